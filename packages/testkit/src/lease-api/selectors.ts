/**
 * Label and field selectors as k8s.io/apimachinery parses them (`labels.Parse`, `fields.ParseSelector`):
 * the same lexer tokens, operators, validation of keys and values, and matching rules.
 */

/** A label selector requirement operator. */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

/** One parsed requirement: `key op values`. */
export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: readonly string[];
}

/** A parse failure; the server answers 400 BadRequest with its message. */
export class SelectorSyntaxError extends Error {}

type TokenKind =
  | 'identifier'
  | 'in'
  | 'notin'
  | '('
  | ')'
  | ','
  | '!'
  | '='
  | '=='
  | '!='
  | '>'
  | '<'
  | 'end'
  | 'error';

interface Token {
  kind: TokenKind;
  literal: string;
}

const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);
const SYMBOL_TOKENS: Record<string, TokenKind> = {
  '(': '(',
  ')': ')',
  ',': ',',
  '!': '!',
  '=': '=',
  '==': '==',
  '!=': '!=',
  '>': '>',
  '<': '<',
};
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);

/** Go's `labels` lexer: identifiers run to whitespace or a special symbol; symbols take the longest token. */
function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i] ?? '';
    if (WHITESPACE.has(ch)) {
      i += 1;
      continue;
    }
    if (SPECIAL.has(ch)) {
      let best: { kind: TokenKind; end: number } | undefined;
      let buffer = '';
      for (let j = i; j < input.length && SPECIAL.has(input[j] ?? ''); j += 1) {
        buffer += input[j];
        const kind = SYMBOL_TOKENS[buffer];
        if (kind !== undefined) best = { kind, end: j + 1 };
        else break;
      }
      if (best === undefined) return [...tokens, { kind: 'error', literal: ch }];
      tokens.push({ kind: best.kind, literal: input.slice(i, best.end) });
      i = best.end;
      continue;
    }
    let j = i;
    while (j < input.length && !WHITESPACE.has(input[j] ?? '') && !SPECIAL.has(input[j] ?? '')) j += 1;
    const literal = input.slice(i, j);
    tokens.push({ kind: literal === 'in' ? 'in' : literal === 'notin' ? 'notin' : 'identifier', literal });
    i = j;
  }
  tokens.push({ kind: 'end', literal: '' });
  return tokens;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** `validation.IsDNS1123Label`: the problems, empty when valid. */
export function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(value)) {
    problems.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    );
  }
  return problems;
}

/** `validation.IsDNS1123Subdomain`: the problems, empty when valid. */
export function dns1123SubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 253) problems.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(value)) {
    problems.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
  }
  return problems;
}

/** `validation.IsQualifiedName` (label keys, annotation keys, finalizers): the problems, empty when valid. */
export function qualifiedNameProblems(value: string): string[] {
  const parts = value.split('/');
  let name: string;
  const problems: string[] = [];
  if (parts.length === 1) {
    name = parts[0] ?? '';
  } else if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else problems.push(...dns1123SubdomainProblems(prefix).map((p) => `prefix part ${p}`));
  } else {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else if (name.length > 63) problems.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) {
    problems.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
  }
  return problems;
}

/** `validation.IsValidLabelValue`: the problems, empty when valid. */
export function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value)) {
    problems.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  }
  return problems;
}

const INTEGER = /^[-+]?\d+$/;

function newRequirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  const keyProblems = qualifiedNameProblems(key);
  if (keyProblems.length > 0) {
    throw new SelectorSyntaxError(`key: Invalid value: ${JSON.stringify(key)}: ${keyProblems.join('; ')}`);
  }
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) {
        throw new SelectorSyntaxError(
          "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
        );
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) {
        throw new SelectorSyntaxError(
          `values: Invalid value: ${JSON.stringify(values)}: exact-match compatibility requires one single value`,
        );
      }
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1 || !INTEGER.test(values[0] ?? '')) {
        throw new SelectorSyntaxError(
          `values[0]: Invalid value: ${JSON.stringify(values[0] ?? '')}: for 'Gt', 'Lt' operators, the value must be an integer`,
        );
      }
      return { key, operator, values };
    default:
      break;
  }
  values.forEach((value, index) => {
    const problems = labelValueProblems(value);
    if (problems.length > 0) {
      throw new SelectorSyntaxError(
        `values[${index}][${key}]: Invalid value: ${JSON.stringify(value)}: ${problems.join('; ')}`,
      );
    }
  });
  return { key, operator, values };
}

/**
 * Parses a label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`) into requirements, all of which
 * must hold. An empty selector selects everything.
 *
 * @throws SelectorSyntaxError with the parser's message.
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const tokens = tokenize(selector);
  let position = 0;
  const peek = (): Token => tokens[position] ?? { kind: 'end', literal: '' };
  const next = (): Token => {
    const token = peek();
    if (position < tokens.length - 1) position += 1;
    return token;
  };
  const found = (token: Token, expected: string) =>
    new SelectorSyntaxError(`unable to parse requirement: found '${token.literal}', expected: ${expected}`);

  const requirements: LabelRequirement[] = [];
  if (peek().kind === 'end') return requirements;
  for (;;) {
    let token = next();
    if (token.kind === 'error')
      throw new SelectorSyntaxError(
        `unable to parse requirement: found '${token.literal}', expected: identifier`,
      );
    let operator: LabelOperator | undefined;
    if (token.kind === '!') {
      operator = '!';
      token = next();
    }
    if (token.kind !== 'identifier') throw found(token, 'identifier');
    const key = token.literal;
    if (operator === '!') {
      requirements.push(newRequirement(key, '!', []));
    } else {
      const op = peek();
      if (op.kind === 'end' || op.kind === ',') {
        requirements.push(newRequirement(key, 'exists', []));
      } else {
        next();
        switch (op.kind) {
          case 'in':
          case 'notin': {
            const open = next();
            if (open.kind !== '(') throw found(open, "'('");
            const values: string[] = [];
            if (peek().kind === ')') {
              // "in ()" is a set holding the empty string, as in Go.
              next();
              values.push('');
            } else {
              for (;;) {
                const value = peek();
                if (value.kind === 'identifier') {
                  next();
                  values.push(value.literal);
                  const after = next();
                  if (after.kind === ')') break;
                  if (after.kind !== ',') throw found(after, "',' or ')'");
                } else if (value.kind === ',' || value.kind === ')') {
                  next();
                  values.push('');
                  if (value.kind === ')') break;
                } else {
                  throw found(value, "',', ')' or identifier");
                }
              }
            }
            requirements.push(newRequirement(key, op.kind, values));
            break;
          }
          case '=':
          case '==':
          case '!=':
          case '>':
          case '<': {
            const value = peek();
            let literal = '';
            if (value.kind === 'identifier') {
              next();
              literal = value.literal;
            } else if (value.kind !== 'end' && value.kind !== ',') {
              throw found(value, 'identifier');
            }
            const operatorOf = op.kind === '>' ? 'gt' : op.kind === '<' ? 'lt' : op.kind;
            requirements.push(newRequirement(key, operatorOf, [literal]));
            break;
          }
          default:
            throw found(op, '[!= == = > < in notin]');
        }
      }
    }
    const separator = next();
    if (separator.kind === 'end') return requirements;
    if (separator.kind !== ',') throw found(separator, "',' or 'end of string'");
  }
}

/** Whether `labels` satisfies every requirement. */
export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>>,
): boolean {
  return requirements.every((requirement) => {
    const has = Object.hasOwn(labels, requirement.key);
    const value = has ? labels[requirement.key] : undefined;
    switch (requirement.operator) {
      case 'in':
      case '=':
      case '==':
        return value !== undefined && requirement.values.includes(value);
      case 'notin':
      case '!=':
        return value === undefined || !requirement.values.includes(value);
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'gt':
      case 'lt': {
        if (value === undefined || !INTEGER.test(value)) return false;
        const left = BigInt(value);
        const right = BigInt(requirement.values[0] ?? '0');
        return requirement.operator === 'gt' ? left > right : left < right;
      }
      default:
        return false;
    }
  });
}

/** One field selector term. */
export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

/** The fields every namespaced resource supports (`storage.DefaultNamespaceScopedAttr`). */
const LEASE_FIELDS = new Set(['metadata.name', 'metadata.namespace']);

/**
 * Parses a field selector (`metadata.name=a,metadata.namespace!=b`), with `\,` `\=` `\\` escapes, and
 * checks that only the fields leases support are named.
 *
 * @throws SelectorSyntaxError with the apiserver's message.
 */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  const terms: string[] = [];
  let current = '';
  for (let i = 0; i < selector.length; i += 1) {
    const ch = selector[i] ?? '';
    if (ch === '\\' && i + 1 < selector.length) {
      current += ch + (selector[i + 1] ?? '');
      i += 1;
    } else if (ch === ',') {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  const requirements: FieldRequirement[] = [];
  for (const term of terms) {
    if (term === '') continue;
    const match = /^((?:[^\\=!]|\\.)*?)(!=|==|=)(.*)$/s.exec(term);
    if (match === null)
      throw new SelectorSyntaxError(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = match[1] ?? '';
    const operator = match[2] === '!=' ? '!=' : '=';
    const value = (match[3] ?? '').replace(/\\(.)/g, '$1');
    if (!LEASE_FIELDS.has(field)) {
      throw new SelectorSyntaxError(
        `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`,
      );
    }
    requirements.push({ field, operator, value });
  }
  return requirements;
}

/** Whether a lease with this name and namespace satisfies every field requirement. */
export function matchesFields(
  requirements: readonly FieldRequirement[],
  fields: { 'metadata.name': string; 'metadata.namespace': string },
): boolean {
  return requirements.every((r) => {
    const actual = fields[r.field as keyof typeof fields];
    return r.operator === '=' ? actual === r.value : actual !== r.value;
  });
}
