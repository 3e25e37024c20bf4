/**
 * The ProviderV1 conformance kit (`providerConformance`), the in-memory reference provider
 * (`createMemoryProvider`) and the kit's assertions, for provider authors' own tests.
 */
export { expectHacpError, expectSuccess, type ProviderCall } from './assertions.js';
export { providerConformance } from './kit.js';
export { createMemoryProvider, type MemoryProvider, type MemoryProviderSettings } from './memory-provider.js';
export { defaultNodeConfig } from './sandbox.js';
export type {
  ConformanceCapabilities,
  ConformanceOptions,
  Describe,
  InstanceFileContents,
  It,
  TestFunction,
} from './types.js';
