import { addonManagerSuite } from './addon-suite.test-support.js';

// Kubernetes v1.23 (the oldest line hacp supports); the same suite runs on 1.32 in its own file.
await addonManagerSuite('1.23');
