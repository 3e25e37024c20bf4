import { invalidArgument } from '@hacp/core';

/** An exact Kubernetes release version, split into its semver parts. */
export interface KubernetesVersion {
  /** Normalised with a leading `v`: `v1.23.16`, `v1.32.0-beta.0.0+cd13ec4ae44e`. */
  version: string;
  major: number;
  minor: number;
  patch: number;
  /** What follows `-`: `beta.0.0` in `v1.32.0-beta.0.0+cd13ec4ae44e`. */
  prerelease?: string;
  /** What follows `+`: `cd13ec4ae44e` in `v1.32.0-beta.0.0+cd13ec4ae44e`. */
  build?: string;
}

const NUMBER = '(0|[1-9]\\d*)';
const IDENTIFIERS = '[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*';
const EXACT = new RegExp(
  `^v?${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-(${IDENTIFIERS}))?(?:\\+(${IDENTIFIERS}))?$`,
);
// The names the official location publishes as `<name>.txt`: stable, latest, stable-1, latest-1.32, ...
const MARKER = new RegExp(`^(stable|latest)(?:-${NUMBER}(?:\\.${NUMBER})?)?$`);
const MINOR_LINE = new RegExp(`^v?${NUMBER}\\.${NUMBER}$`);

const SPEC_EXAMPLES = 'v1.23.16, 1.23.16, 1.23, stable-1.23, latest-1.32, stable or latest';

/**
 * Parses an exact version (`v1.23.16`, `1.23.16`, `v1.32.0-beta.0.0+cd13ec4ae44e`) and normalises it
 * with a leading `v`. Specs such as `1.23` or `latest` are not exact: resolve them with
 * `resolveKubernetesVersion`.
 *
 * @example
 * parseKubernetesVersion('1.23.16'); // { version: 'v1.23.16', major: 1, minor: 23, patch: 16 }
 * @throws HacpError INVALID_ARGUMENT (field `version`) for anything that is not an exact version.
 */
export function parseKubernetesVersion(text: string): KubernetesVersion {
  const match = typeof text === 'string' ? EXACT.exec(text.trim()) : null;
  if (match === null) {
    const resolvable = typeof text === 'string' && isKubernetesVersionSpec(text);
    throw invalidArgument({
      field: 'version',
      value: String(text),
      message: resolvable
        ? `"${text}" is a version spec, not an exact Kubernetes version such as v1.23.16.`
        : `"${String(text)}" is not a Kubernetes version: use one such as ${SPEC_EXAMPLES}.`,
      actions: resolvable
        ? [
            'Resolve the spec to an exact version first (resolveKubernetesVersion), or give one such as v1.23.16.',
          ]
        : [`Give an exact version such as v1.23.16, or a spec such as 1.23 or latest-1.32.`],
    });
  }
  const [, major, minor, patch, prerelease, build] = match;
  return {
    version: `v${major}.${minor}.${patch}${prerelease ? `-${prerelease}` : ''}${build ? `+${build}` : ''}`,
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    ...(prerelease ? { prerelease } : {}),
    ...(build ? { build } : {}),
  };
}

/**
 * Whether `text` names a version hacp can use: an exact version, or a spec the release location
 * resolves (`1.23`, `stable-1.23`, `latest-1.32`, `stable`, `latest`, `stable-1`).
 *
 * @example
 * isKubernetesVersionSpec('1.23'); // true
 * isKubernetesVersionSpec('one.two'); // false
 */
export function isKubernetesVersionSpec(text: string): boolean {
  if (typeof text !== 'string') return false;
  const trimmed = text.trim();
  return EXACT.test(trimmed) || MARKER.test(trimmed) || MINOR_LINE.test(trimmed);
}

/**
 * The marker file a spec is resolved through (`stable-1.23` for `1.23`), with the minor line it
 * promises when it names one; undefined for an exact version.
 */
export function versionMarker(spec: string): { name: string; major?: number; minor?: number } | undefined {
  const trimmed = spec.trim();
  if (EXACT.test(trimmed)) return undefined;
  const line = MINOR_LINE.exec(trimmed);
  if (line !== null) {
    return { name: `stable-${line[1]}.${line[2]}`, major: Number(line[1]), minor: Number(line[2]) };
  }
  const marker = MARKER.exec(trimmed);
  if (marker === null) {
    throw invalidArgument({
      field: 'version',
      value: spec,
      message: `"${spec}" is not a Kubernetes version or version spec: use one such as ${SPEC_EXAMPLES}.`,
      actions: ['Give an exact version such as v1.23.16, or a spec such as 1.23 or latest-1.32.'],
    });
  }
  return {
    name: trimmed,
    ...(marker[2] === undefined ? {} : { major: Number(marker[2]) }),
    ...(marker[3] === undefined ? {} : { minor: Number(marker[3]) }),
  };
}

/** Orders versions as semver does (a pre-release before its release); build metadata breaks ties. */
export function compareKubernetesVersions(a: KubernetesVersion, b: KubernetesVersion): number {
  const numeric = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (numeric !== 0) return numeric;
  if (a.prerelease !== b.prerelease) {
    if (a.prerelease === undefined) return 1;
    if (b.prerelease === undefined) return -1;
    const order = comparePrerelease(a.prerelease, b.prerelease);
    if (order !== 0) return order;
  }
  return (a.build ?? '').localeCompare(b.build ?? '');
}

function comparePrerelease(a: string, b: string): number {
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i];
    const y = right[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xNumeric = /^\d+$/.test(x);
    const yNumeric = /^\d+$/.test(y);
    if (xNumeric && yNumeric && Number(x) !== Number(y)) return Number(x) - Number(y);
    if (xNumeric !== yNumeric) return xNumeric ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
