import { packageTestConfig } from '../../vitest.shared.js';

export default packageTestConfig({ globalSetup: ['@hacp/testkit/global-setup'] });
