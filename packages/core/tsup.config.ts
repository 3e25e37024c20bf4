import { packageBuildConfig } from '../../tsup.shared.js';

// The provider kit is a subpath of its own (`@hacp/core/provider-kit`), so that the contract's entry
// stays free of node:fs and child processes.
export default packageBuildConfig(['src/index.ts', 'src/provider-kit/index.ts']);
