/**
 * The `filter` query parameter of Compute list calls: `field op value` terms (`=`, `!=`, `>`, `<`, `>=`,
 * `<=`, `:` for substring or `:*` for "is set", and the legacy `eq`/`ne` with an RE2 regular expression
 * that must match the whole value), joined by `AND` (or juxtaposition, `(a = "1") (b = "2")`), `OR`,
 * `NOT`, with parentheses. Fields are dotted paths into the resource (`labels.hacp-cluster`,
 * `scheduling.automaticRestart`); a value is "double quoted", 'single quoted' or bare.
 */

/** A filter that does not parse; the server answers 400 with GCE's message. */
export class FilterSyntaxError extends Error {}

type Token =
  | { kind: 'open' | 'close' }
  | { kind: 'op'; op: Operator }
  | { kind: 'word'; text: string; quoted: boolean };

type Operator = '=' | '!=' | '>' | '<' | '>=' | '<=' | ':' | 'eq' | 'ne';

type Node =
  | { kind: 'and' | 'or'; nodes: Node[] }
  | { kind: 'not'; node: Node }
  | { kind: 'term'; field: string[]; op: Operator; value: string; quoted: boolean };

const SYMBOL_OPERATORS: readonly Operator[] = ['!=', '>=', '<=', '=', '>', '<', ':'];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i] ?? '';
    if (/\s/.test(char)) {
      i += 1;
      continue;
    }
    if (char === '(' || char === ')') {
      tokens.push({ kind: char === '(' ? 'open' : 'close' });
      i += 1;
      continue;
    }
    const symbol = SYMBOL_OPERATORS.find((op) => text.startsWith(op, i));
    if (symbol !== undefined) {
      tokens.push({ kind: 'op', op: symbol });
      i += symbol.length;
      continue;
    }
    if (char === '"' || char === "'") {
      let value = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== char; j += 1) {
        if (text[j] === '\\' && j + 1 < text.length) j += 1;
        value += text[j];
      }
      if (j >= text.length) throw new FilterSyntaxError(`unterminated string at ${i}`);
      tokens.push({ kind: 'word', text: value, quoted: true });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/[\s()"'!=<>:]/.test(text[j] ?? '')) j += 1;
    // A bare value may hold '*' and '/', never an operator character: quote URLs.
    tokens.push({ kind: 'word', text: text.slice(i, j), quoted: false });
    i = j;
  }
  return tokens;
}

class Parser {
  private position = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.or();
    if (this.position < this.tokens.length) throw new FilterSyntaxError('unexpected trailing input');
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }

  private isKeyword(token: Token | undefined, keyword: string): boolean {
    return token?.kind === 'word' && !token.quoted && token.text === keyword;
  }

  private or(): Node {
    const nodes = [this.and()];
    while (this.isKeyword(this.peek(), 'OR')) {
      this.position += 1;
      nodes.push(this.and());
    }
    return nodes.length === 1 ? (nodes[0] as Node) : { kind: 'or', nodes };
  }

  private and(): Node {
    const nodes = [this.unary()];
    for (;;) {
      const next = this.peek();
      if (next === undefined || next.kind === 'close' || this.isKeyword(next, 'OR')) break;
      if (this.isKeyword(next, 'AND')) this.position += 1;
      nodes.push(this.unary());
    }
    return nodes.length === 1 ? (nodes[0] as Node) : { kind: 'and', nodes };
  }

  private unary(): Node {
    if (this.isKeyword(this.peek(), 'NOT')) {
      this.position += 1;
      return { kind: 'not', node: this.unary() };
    }
    const token = this.peek();
    if (token?.kind === 'open') {
      this.position += 1;
      const node = this.or();
      if (this.peek()?.kind !== 'close') throw new FilterSyntaxError('missing )');
      this.position += 1;
      return node;
    }
    return this.term();
  }

  private term(): Node {
    const field = this.tokens[this.position];
    const operator = this.tokens[this.position + 1];
    const value = this.tokens[this.position + 2];
    if (field?.kind !== 'word' || field.quoted || field.text === '') {
      throw new FilterSyntaxError('expected a field name');
    }
    let op: Operator | undefined;
    if (operator?.kind === 'op') op = operator.op;
    else if (
      operator?.kind === 'word' &&
      !operator.quoted &&
      (operator.text === 'eq' || operator.text === 'ne')
    ) {
      op = operator.text;
    }
    if (op === undefined) throw new FilterSyntaxError(`expected an operator after ${field.text}`);
    if (value?.kind !== 'word') throw new FilterSyntaxError(`expected a value after ${field.text} ${op}`);
    this.position += 3;
    const path = field.text.split('.');
    if (path.some((part) => part === '')) throw new FilterSyntaxError(`bad field name ${field.text}`);
    return { kind: 'term', field: path, op, value: value.text, quoted: value.quoted };
  }
}

function lookup(resource: unknown, path: readonly string[]): unknown {
  let current: unknown = resource;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return undefined;
}

function glob(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

function compareOne(actual: string, op: Operator, expected: string, matcher: RegExp | undefined): boolean {
  switch (op) {
    case '=':
      return expected.includes('*') ? glob(expected).test(actual) : actual === expected;
    case '!=':
      return expected.includes('*') ? !glob(expected).test(actual) : actual !== expected;
    case ':':
      return actual.includes(expected);
    case 'eq':
      return matcher?.test(actual) ?? false;
    case 'ne':
      return !(matcher?.test(actual) ?? false);
    default: {
      const a = Number(actual);
      const b = Number(expected);
      const numeric = actual !== '' && expected !== '' && Number.isFinite(a) && Number.isFinite(b);
      const order = numeric ? Math.sign(a - b) : actual < expected ? -1 : actual > expected ? 1 : 0;
      if (op === '>') return order > 0;
      if (op === '<') return order < 0;
      if (op === '>=') return order >= 0;
      return order <= 0;
    }
  }
}

function evaluate(node: Node, resource: unknown, matchers: Map<Node, RegExp>): boolean {
  switch (node.kind) {
    case 'and':
      return node.nodes.every((child) => evaluate(child, resource, matchers));
    case 'or':
      return node.nodes.some((child) => evaluate(child, resource, matchers));
    case 'not':
      return !evaluate(node.node, resource, matchers);
    case 'term': {
      const value = lookup(resource, node.field);
      if (node.op === ':' && node.value === '*' && !node.quoted) return value !== undefined && value !== null;
      const values = (Array.isArray(value) ? value : [value]).map(scalarText);
      const present = values.filter((v): v is string => v !== undefined);
      const negative = node.op === '!=' || node.op === 'ne';
      const matcher = matchers.get(node);
      if (present.length === 0) return negative;
      return negative
        ? present.every((actual) => compareOne(actual, node.op, node.value, matcher))
        : present.some((actual) => compareOne(actual, node.op, node.value, matcher));
    }
  }
}

function collectMatchers(node: Node, matchers: Map<Node, RegExp>): void {
  if (node.kind === 'and' || node.kind === 'or') {
    for (const child of node.nodes) collectMatchers(child, matchers);
  } else if (node.kind === 'not') {
    collectMatchers(node.node, matchers);
  } else if (node.kind === 'term' && (node.op === 'eq' || node.op === 'ne')) {
    try {
      matchers.set(node, new RegExp(`^(?:${node.value})$`));
    } catch {
      throw new FilterSyntaxError(`bad regular expression ${node.value}`);
    }
  }
}

/**
 * Compiles a list filter into a predicate over resources (their JSON as the API returns it). An empty
 * filter matches everything.
 *
 * @throws FilterSyntaxError when the filter does not parse.
 */
export function compileFilter(filter: string): (resource: unknown) => boolean {
  if (filter.trim() === '') return () => true;
  const node = new Parser(tokenize(filter)).parse();
  const matchers = new Map<Node, RegExp>();
  collectMatchers(node, matchers);
  return (resource) => evaluate(node, resource, matchers);
}
