import { packageBuildConfig } from '../../tsup.shared.js';

// `./providers` is its own entry so that the CLI can list and load providers without the engine.
export default packageBuildConfig(['src/index.ts', 'src/providers.ts']);
