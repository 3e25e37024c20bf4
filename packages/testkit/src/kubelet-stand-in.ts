import { fileURLToPath } from 'node:url';

/**
 * The built kubelet stand-in CLI (`dist/kubelet-stand-in-cli.js` of this package), for a VM's
 * `kubelet` wrapper: `exec node <KUBELET_STAND_IN_CLI> "$@"`. Resolved from this module's own URL,
 * which is in `src/` or `dist/` (both one level under the package), so it holds from either.
 *
 * @example
 * writeFileSync(join(binDir, 'kubelet'), `#!/bin/sh\nexec node ${KUBELET_STAND_IN_CLI} "$@"\n`, { mode: 0o755 });
 */
export const KUBELET_STAND_IN_CLI: string = fileURLToPath(
  new URL('../dist/kubelet-stand-in-cli.js', import.meta.url),
);

export {
  KUBELET_DEFAULTS,
  type KubeletConfig,
  type KubeletEnvironment,
  kubeletEnvironment,
} from './kubelet/config.js';
export type { ImageEntry, ImageMap } from './kubelet/images.js';
export { type Kubelet, type RunKubeletOptions, runKubelet } from './kubelet/kubelet.js';
export {
  type ContainerStatus,
  type ContainerTermination,
  type KubeletStatus,
  type PodStatus,
  statusFilePath,
} from './kubelet/status.js';
