/**
 * Add-on manifests: parsing YAML or JSON text into objects, and the label that says how the add-on
 * manager treats each one (kube-addon-manager's `addonmanager.kubernetes.io/mode`).
 */
import { ErrorCode, HacpError } from '@hacp/core';
import { loadAllYaml } from '@kubernetes/client-node';

/** The label that puts an object in the add-on manager's care, with its mode as the value. */
export const ADDON_MODE_LABEL = 'addonmanager.kubernetes.io/mode';

/**
 * `Reconcile`: kept exactly as in the folder (re-created when deleted, edits reverted, pruned when
 * removed from the folder). `EnsureExists`: created when missing, never updated or deleted afterwards.
 */
export type AddonMode = 'Reconcile' | 'EnsureExists';

const MODES: ReadonlySet<string> = new Set<AddonMode>(['Reconcile', 'EnsureExists']);

/**
 * One Kubernetes object of an add-on, as client-node's `loadAllYaml` models it: built-in kinds are
 * instances of client-node's model classes, other kinds plain objects.
 */
export interface AddonObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** An object together with where it came from: its document (1-based) and, inside a List, its item. */
interface LocatedObject {
  object: AddonObject;
  document: number;
  item?: number;
}

/**
 * The mode an object asks for, or undefined when it has no mode label or a value other than
 * `Reconcile` and `EnsureExists` (the manager ignores such an object, as kubectl's label selectors do).
 *
 * @example
 * addonModeOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', labels: { [ADDON_MODE_LABEL]: 'Reconcile' } } }); // 'Reconcile'
 */
export function addonModeOf(object: AddonObject): AddonMode | undefined {
  const value = object.metadata.labels?.[ADDON_MODE_LABEL];
  return value !== undefined && MODES.has(value) ? (value as AddonMode) : undefined;
}

/** How results and logs name an object: `<kind>/<namespace>/<name>`, or `<kind>/<name>` without a namespace. */
export function addonObjectName(object: {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}): string {
  const namespace = object.metadata?.namespace;
  const name = object.metadata?.name ?? '';
  return namespace ? `${object.kind}/${namespace}/${name}` : `${object.kind}/${name}`;
}

/** A document boundary is a line of `---`, optionally followed by spaces or a comment (kubectl's rule). */
const SEPARATOR = /^---[ \t]*(#.*)?$/;
/** Lines that carry no content: blank, or a comment. */
const NO_CONTENT = /^[ \t]*(#.*)?$/;

/** The documents of a YAML stream with the line each starts on (1-based), empty ones left out. */
function splitDocuments(text: string): { text: string; line: number }[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const documents: { text: string; line: number }[] = [];
  let start = 0;
  const flush = (end: number) => {
    const chunk = lines.slice(start, end);
    if (chunk.some((line) => !NO_CONTENT.test(line)))
      documents.push({ text: chunk.join('\n'), line: start + 1 });
  };
  lines.forEach((line, index) => {
    if (SEPARATOR.test(line)) {
      flush(index);
      start = index + 1;
    }
  });
  flush(lines.length);
  return documents;
}

function invalidManifest(options: {
  source: string;
  document: number;
  item?: number;
  problem: string;
  cause?: unknown;
}): HacpError {
  const where = `${options.source}, document ${options.document}${options.item === undefined ? '' : `, item ${options.item}`}`;
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `${where}: ${options.problem}`,
    actions: [
      `Fix ${options.source}: each document must be a Kubernetes object with apiVersion, kind and metadata.name (or a List of them).`,
    ],
    details: {
      field: 'manifest',
      source: options.source,
      document: options.document,
      ...(options.item === undefined ? {} : { item: options.item }),
    },
    cause: options.cause,
  });
}

/**
 * js-yaml's own message quotes the offending lines, which may be a Secret's data; only its reason
 * and position are kept.
 */
function yamlProblem(error: unknown, firstLine: number): string {
  const { reason, mark } = error as { reason?: unknown; mark?: { line?: unknown } };
  if (typeof reason !== 'string') return 'it is not valid YAML or JSON.';
  const at = typeof mark?.line === 'number' ? ` (line ${firstLine + mark.line} of the file)` : '';
  return `it is not valid YAML or JSON: ${reason}${at}.`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What is missing or malformed in a parsed value for it to be an object, or undefined when it is one. */
function objectProblem(value: unknown): string | undefined {
  if (!isRecord(value))
    return 'it is not a Kubernetes object (a mapping with apiVersion, kind and metadata).';
  if (typeof value.apiVersion !== 'string' || value.apiVersion === '') return 'it has no apiVersion.';
  if (typeof value.kind !== 'string' || value.kind === '') return 'it has no kind.';
  const metadata = value.metadata;
  if (!isRecord(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    return `its ${value.kind} has no metadata.name (generateName is not enough: an add-on must have a stable name).`;
  }
  if (metadata.namespace !== undefined && typeof metadata.namespace !== 'string') {
    return `${value.kind} ${metadata.name} has a metadata.namespace that is not a string.`;
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined) continue;
    if (!isRecord(map) || Object.values(map).some((v) => typeof v !== 'string')) {
      return `${value.kind} ${metadata.name} has metadata.${field} whose values are not all strings (quote them).`;
    }
  }
  return undefined;
}

/** The one value of a document as client-node models it; a plain List item is parsed the same way. */
function loadOne(text: string): unknown {
  const values = loadAllYaml(text) as unknown[];
  return values.length === 1 ? values[0] : values;
}

function isList(value: Record<string, unknown>): boolean {
  return typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items);
}

/** The items of a List, each checked and typed as if it were a document of its own. */
function listItems(list: Record<string, unknown>, source: string, document: number): LocatedObject[] {
  return (list.items as unknown[]).map((raw, index) => {
    const item = index + 1;
    const problem = objectProblem(raw);
    if (problem !== undefined) throw invalidManifest({ source, document, item, problem });
    // An untyped List (kind: List) holds plain objects: give them client-node's models as well.
    const object = Object.getPrototypeOf(raw) === Object.prototype ? loadOne(JSON.stringify(raw)) : raw;
    return { object: object as AddonObject, document, item };
  });
}

function parseLocated(text: string, source: string): LocatedObject[] {
  const located: LocatedObject[] = [];
  splitDocuments(text).forEach((chunk, index) => {
    const document = index + 1;
    let value: unknown;
    try {
      value = loadOne(chunk.text);
    } catch (error) {
      // loadAllYaml reads `.apiVersion` of every value, so a null document is a TypeError there.
      const problem =
        error instanceof TypeError ? 'it is empty or not a mapping.' : yamlProblem(error, chunk.line);
      throw invalidManifest({ source, document, problem, cause: error });
    }
    if (isRecord(value) && isList(value)) {
      located.push(...listItems(value, source, document));
      return;
    }
    const problem = objectProblem(value);
    if (problem !== undefined) throw invalidManifest({ source, document, problem });
    located.push({ object: value as AddonObject, document });
  });
  return located;
}

/**
 * Parses add-on manifests: YAML (several documents separated by `---` lines) or JSON, a List (any
 * `*List` kind with `items`) unwrapped into its items. Empty documents are skipped. Built-in kinds
 * become client-node's models, which keep only the fields those models know (as kubectl's typed
 * decoding does); other kinds keep every field.
 *
 * @param source names the text in messages (a file name, `-` for stdin).
 * @throws HacpError INVALID_ARGUMENT naming `source` and the document (1-based; and the List item)
 *   for text that is not YAML or JSON, or a value without apiVersion, kind or metadata.name.
 *   `details`: `{ field: 'manifest', source, document, item? }`. The message never quotes the text.
 * @example
 * const objects = parseAddonManifests(readFileSync('dns.yaml', 'utf8'), 'dns.yaml');
 */
export function parseAddonManifests(text: string, source: string): AddonObject[] {
  return parseLocated(text, source).map((entry) => entry.object);
}

/**
 * Like {@link parseAddonManifests}, and also refuses an object without the mode label or with a
 * value other than `Reconcile` or `EnsureExists`: the manager would never apply it. This is the
 * check for manifests a user hands in (`hacp addons apply -f`).
 *
 * @throws HacpError INVALID_ARGUMENT as parse does; for a missing or unknown mode, `details` also
 *   has `object` (`<kind>/<namespace>/<name>`) and `field: 'metadata.labels'`.
 * @example
 * checkAddonManifests(text, 'dashboard.yaml'); // throws unless every object has a mode
 */
export function checkAddonManifests(text: string, source: string): AddonObject[] {
  const located = parseLocated(text, source);
  for (const { object, document, item } of located) {
    if (addonModeOf(object) !== undefined) continue;
    const value = object.metadata.labels?.[ADDON_MODE_LABEL];
    const name = addonObjectName(object);
    const where = `${source}, document ${document}${item === undefined ? '' : `, item ${item}`}`;
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message:
        value === undefined
          ? `${where}: ${name} has no label ${ADDON_MODE_LABEL}, so the add-on manager would never apply it.`
          : `${where}: ${name} has ${ADDON_MODE_LABEL}=${value}; the add-on manager knows only Reconcile and EnsureExists.`,
      actions: [
        `Label it ${ADDON_MODE_LABEL}: Reconcile (kept exactly as in the folder) or EnsureExists (created when missing, then left alone).`,
      ],
      details: {
        field: 'metadata.labels',
        source,
        document,
        ...(item === undefined ? {} : { item }),
        object: name,
      },
    });
  }
  return located.map((entry) => entry.object);
}
