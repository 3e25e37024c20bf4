import { packageBuildConfig } from '../../tsup.shared.js';

// `./providers` and `./errors` are entries of their own so that the CLI can list and load providers,
// and read errors, without loading the engine.
export default packageBuildConfig(['src/index.ts', 'src/providers.ts', 'src/errors.ts']);
