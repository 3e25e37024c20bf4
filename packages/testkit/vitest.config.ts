import { packageTestConfig } from '../../vitest.shared.js';

export default packageTestConfig({ globalSetup: ['./src/global-setup.ts'] });
