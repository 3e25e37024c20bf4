import { mergeConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.shared.js';

// These tests make keys and run openssl dozens of times each: CPU-bound work that takes a few
// seconds on two idle cores and several times that on busy ones, so no test gets the 5 s default.
export default mergeConfig(packageTestConfig(), { test: { testTimeout: 120_000, hookTimeout: 120_000 } });
