import { packageTestConfig } from '../../vitest.shared.js';

export default packageTestConfig({
  globalSetup: ['@hacp/testkit/global-setup', './src/test-global-setup.ts'],
});
