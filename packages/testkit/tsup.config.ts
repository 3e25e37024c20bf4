import { packageBuildConfig } from '../../tsup.shared.js';

export default packageBuildConfig([
  'src/index.ts',
  'src/global-setup.ts',
  'src/lease-server-cli.ts',
  'src/compute-server-cli.ts',
  'src/kubelet-stand-in-cli.ts',
]);
