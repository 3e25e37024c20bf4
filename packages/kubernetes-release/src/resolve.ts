import { ErrorCode, HacpError, invalidArgument, isHacpError } from '@hacp/core';
import { readSmallText } from './download.js';
import { displayUrl } from './errors.js';
import { releaseBase, releaseFileUrl } from './source.js';
import { type KubernetesVersion, parseKubernetesVersion, versionMarker } from './version.js';

/**
 * The exact version a spec names. An exact version (`1.23.16`) is only normalised; a spec is read
 * from the location's marker file, as the official location publishes them: `1.23` and
 * `stable-1.23` from `stable-1.23.txt`, `latest-1.32` from `latest-1.32.txt`, `stable` from
 * `stable.txt`, `stable-1` from `stable-1.txt`.
 *
 * @example
 * const { version } = await resolveKubernetesVersion('1.23', { releaseUrl: DEFAULT_RELEASE_URL });
 * // 'v1.23.17' at the official location
 * @throws HacpError INVALID_ARGUMENT (field `version`) for text that is neither a version nor a spec;
 *   NOT_FOUND when the location has no marker file for the spec; INVALID_ARGUMENT (field
 *   `releaseUrl`) when the marker does not hold a version of the line it names; UNAVAILABLE when
 *   the location cannot be reached; ABORTED.
 */
export async function resolveKubernetesVersion(
  spec: string,
  options: { releaseUrl: string; signal?: AbortSignal },
): Promise<KubernetesVersion> {
  const marker = versionMarker(spec);
  if (marker === undefined) return parseKubernetesVersion(spec);
  const url = releaseFileUrl(releaseBase(options.releaseUrl), `${marker.name}.txt`);
  const text = await readSmallText(url, options).catch((error: unknown) => {
    if (!isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
    throw new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `The release location has no ${marker.name}.txt, so "${spec}" cannot be resolved (${displayUrl(url)}: not found).`,
      actions: [
        `Give an exact version such as v1.23.16 instead of "${spec}", or a line the location publishes (stable-1.23, latest-1.32).`,
        ...error.actions.slice(1),
      ],
      details: { spec, url: displayUrl(url) },
      cause: error,
    });
  });
  let version: KubernetesVersion | undefined;
  try {
    version = parseKubernetesVersion(text.trim());
  } catch {
    version = undefined;
  }
  const line =
    (marker.major === undefined || version?.major === marker.major) &&
    (marker.minor === undefined || version?.minor === marker.minor);
  if (version === undefined || !line) {
    throw invalidArgument({
      field: 'releaseUrl',
      value: displayUrl(options.releaseUrl),
      message: `${displayUrl(url)} does not hold a Kubernetes version${marker.minor === undefined ? '' : ` of the ${marker.major}.${marker.minor} line`} (it holds "${text.trim().slice(0, 80)}").`,
      actions: [
        `Check HACP_KUBE_RELEASE_URL (now ${displayUrl(options.releaseUrl)}): is it a Kubernetes release location?`,
      ],
    });
  }
  return version;
}
