import { packageBuildConfig } from '../../tsup.shared.js';

// The test global setup is built too: packages whose tests run local replicas (the SDK, the CLI) use it.
export default packageBuildConfig(['src/index.ts', 'src/test-global-setup.ts']);
