import type { InstanceRef, NodeConfig, ProviderV1 } from '@hacp/core';

/** The caller's `describe`: vitest's, jest's, mocha's and node:test's all fit. */
export type Describe = (name: string, fn: () => void) => void;

/**
 * A test the kit registers. It takes no declared parameter (jest would read one as a done
 * callback), and reads the runner's test context from its first argument (vitest, node:test) or
 * `this` (mocha) only to skip itself at run time.
 */
export type TestFunction = (this: unknown, ...runnerContext: unknown[]) => Promise<void>;

/** The caller's `it`, taking a timeout in milliseconds as its third argument (vitest's and jest's do). */
export type It = (name: string, fn: TestFunction, timeoutMs?: number) => void;

/** A file of an instance as `readFiles` reports it; the path is relative to the instance's root. */
export interface InstanceFileContents {
  path: string;
  mode: number;
  contents: string;
}

/** What the provider under test can do beyond the required contract, and how to test it. */
export interface ConformanceCapabilities {
  /**
   * `instances.stop` and `instances.start` exist and work: status `stopped`, then `running`; start
   * of a running instance changes nothing; both are NOT_FOUND for a missing instance.
   */
  stopStart?: boolean;
  /**
   * The optional `deleteLeftovers` exists and works: it deletes a cluster's instances and the
   * network places allocated to it (so another cluster can have the names), and nothing of another
   * cluster; a second call deletes nothing.
   */
  deleteLeftovers?: boolean;
  /**
   * The provider runs processes, so a NodeConfig whose command does not exist makes `create` throw,
   * and afterwards the instance does not exist.
   */
  failedStartRollsBack?: boolean;
  /**
   * Zones to place test instances in. Default: the first zone `zones.list()` offers and the next one
   * in its region (or simply the next one).
   */
  zones?: readonly string[];
  /**
   * What test instances run. Default: a 0644 file, a 0600 Secret file and one process
   * `{ name: 'idle', command: 'sleep', args: ['3600'] }`.
   */
  nodeConfig?: (instanceName: string) => NodeConfig;
  /** Per test, passed as `it()`'s third argument. Default 60000. */
  timeoutMs?: number;
  /**
   * The optional `instances.stopProcesses`. Absent: its checks run where the provider has it, and
   * skip themselves at run time where it does not (through the runner's test context: vitest,
   * node:test, mocha; jest cannot, so say `false` there). `true`: it must exist. `false`: its checks
   * are left out.
   */
  stopProcesses?: boolean;
  /** The optional `instances.syncFiles`, as `stopProcesses`. */
  syncFiles?: boolean;
  /**
   * Reads what an instance holds under `<rootDir>/<prefix>/`, every file with its mode and
   * contents, so that the syncFiles checks can see what it wrote and removed. Without it, they check
   * only what the contract returns.
   */
  readFiles?: (instance: {
    provider: ProviderV1;
    ref: InstanceRef;
    rootDir: string;
    prefix: string;
  }) => Promise<readonly InstanceFileContents[]>;
}

/** What `providerConformance` takes. */
export interface ConformanceOptions {
  describe: Describe;
  it: It;
  /** Makes a fresh provider; each test calls it once and closes the provider at its end. */
  create: () => ProviderV1 | Promise<ProviderV1>;
  capabilities?: ConformanceCapabilities;
  /** The name of the outermost `describe`. Default `ProviderV1 conformance`. */
  name?: string;
}
