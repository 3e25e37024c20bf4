import { addonManagerSuite } from './addon-suite.test-support.js';

// The 1.32 line; the same suite runs on 1.23 in addon-manager.integ.test.ts.
await addonManagerSuite('latest-1.32');
