import { packageBuildConfig } from '../../tsup.shared.js';

// The provider kit is a subpath of its own (`@hacp/core/provider-kit`), so that the contract's entry
// stays free of node:fs and child processes. The kit's forwarder is a program of its own, run with node.
export default packageBuildConfig([
  'src/index.ts',
  'src/provider-kit/index.ts',
  'src/provider-kit/forwarder.ts',
]);
