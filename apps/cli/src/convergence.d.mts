/** How a `hacp <args> --json` run ended: its exit code, its parsed envelope, its stderr. */
export interface JsonRun {
  code: number | null;
  envelope?: {
    status: number;
    result?: unknown;
    error?: { code: string; message: string; actions: string[] };
  };
  stderr: string;
}

/**
 * Runs `hacp <args> --cluster <cluster> --json` without a terminal, with `HACP_STATE_DIR` and
 * `HACP_KUBERNETES=false`; never rejects for a non-zero exit. Killed after 5 minutes.
 */
export declare function hacpJson(
  args: readonly string[],
  options: { stateDir: string; cluster: string; cli?: string },
): Promise<JsonRun>;

/** What a failed run said: its error's code and message, else its stderr or exit code. */
export declare function failureOf(run: JsonRun): string;

/** What a local state folder holds: the provider's records, replica and endpoint folders. */
export interface LocalStateView {
  instances: Array<{
    name: string;
    zone: string;
    cluster: string;
    state: 'creating' | 'created';
    creator: { pid: number; startTime?: string };
  }>;
  networks: Array<{ name: string; cluster: string }>;
  addresses: Array<{ name: string; region: string; ip: string; portOffset?: number; holder?: unknown }>;
  loadBalancers: Array<{ spec: { name: string; targets: Array<{ name: string; zone: string }> } }>;
  replicaFolders: string[];
  endpointFolders: string[];
  endpointDir(address: { name: string; region: string }): string;
  /** A replica's pid files: `<name>.json` per running process. */
  runDir(replica: string): string;
}

/** Reads the local provider's records and folders in `stateDir`. */
export declare function localState(stateDir: string): LocalStateView;

/** The servers HAProxy's configuration in an endpoint folder sends the API's port to; undefined without one. */
export declare function configuredServers(endpointDir: string): string[] | undefined;

/** Every running process whose command line names a path in `stateDir`. */
export declare function processesUnder(stateDir: string): Array<{ pid: number; command: string }>;

/**
 * What is left over after an operation: processes running from the state folder that no pid file
 * records (nor a child of one), recorded processes that died, and instance records, network
 * allocations, replica and endpoint folders that do not match `replicas`. Empty when none.
 */
export declare function orphans(stateDir: string, cluster: string, replicas: readonly string[]): string[];

/** etcdctl through the cluster's endpoint address with hacp's health-check client certificate; its stdout. */
export declare function etcdctl(
  where: { stateDir: string; cluster: string },
  args: readonly string[],
): Promise<string>;

/**
 * Whether the cluster converged on `expected` replicas: `hacp status --json` (replicas equal etcd
 * members, every voter healthy, nothing in flight, the endpoint attached to the one replica or
 * load-balanced to all of them in status, records and HAProxy's configuration), etcdctl through the
 * endpoint address, and {@link orphans}.
 */
export declare function convergenceProblems(options: {
  stateDir: string;
  cluster: string;
  cli?: string;
  expected: number;
}): Promise<{ problems: string[]; replicas: Array<{ name: string; zone: string }> }>;
