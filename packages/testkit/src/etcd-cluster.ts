import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { type ClusterPki, issueReplicaCerts, type ReplicaCerts, withReplica } from '@hacp/certs';
import {
  ErrorCode,
  HacpError,
  invalidArgument,
  type Logger,
  type NodeFile,
  resolveLogger,
  waitUntil,
} from '@hacp/core';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { freePorts } from './ports.js';
import { type SpawnedProcess, spawnTracked } from './processes.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** TLS material on disk, for etcdctl and for etcd's own flags. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** One etcd member the testkit runs. */
export interface EtcdTestMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The pid while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
}

/** How a member is started (used by `spawnMember` for members the test adds itself). */
export interface SpawnMemberOptions {
  name: string;
  /** Certificates for its peer and client ports. Default: issued from the cluster's PKI. */
  certs?: ReplicaCerts;
  /** The CA its peer and client ports trust. Default: the cluster's etcd CA. */
  trustedCaPem?: string;
  /** `name=peerUrl` pairs; this member's own pair is added when missing. */
  initialCluster: readonly string[];
  state: 'new' | 'existing';
  /** Ports; default free ones. */
  clientPort?: number;
  peerPort?: number;
}

/** A running etcd cluster on loopback with peer and client mTLS. */
export interface EtcdTestCluster {
  /** The folder holding data dirs, certificates and logs; removed by `stop()`. */
  readonly dir: string;
  /** The `--initial-cluster-token`, unique to this cluster. */
  readonly token: string;
  /** The PKI, with every member's certificates added. */
  readonly pki: ClusterPki;
  readonly members: readonly EtcdTestMember[];
  /** Client URLs of every member the testkit started. */
  readonly endpoints: readonly string[];
  /** hacp's etcd client certificate (from the PKI) on disk. */
  readonly clientTls: TlsFiles;
  member(name: string): EtcdTestMember;
  /**
   * An etcd3 client over mTLS, through `members` (default all), without etcd3's circuit breaker.
   * `withCertificate: false` gives a client that offers no certificate. Closed by `stop()`.
   */
  client(options?: { members?: readonly string[]; withCertificate?: boolean; dialTimeoutMs?: number }): Etcd3;
  /** Runs etcdctl (v3 API) against `endpoints` (default all) with the client certificate. */
  etcdctl(
    args: readonly string[],
    options?: { endpoints?: readonly string[]; withCertificate?: boolean },
  ): Promise<string>;
  /** The name of the running member that leads now. @throws HacpError UNAVAILABLE when none does. */
  leader(): Promise<string>;
  /** Stops a member gracefully (SIGTERM), keeping its data. */
  stopMember(name: string): Promise<void>;
  /** Kills a member (SIGKILL), keeping its data. */
  killMember(name: string): Promise<void>;
  /**
   * Starts a stopped member again from its data dir and waits until it answers. With `peerPort`, it
   * listens for peers on that port instead (etcd's member migration: same data dir, new peer URL).
   */
  startMember(name: string, options?: { peerPort?: number }): Promise<void>;
  /**
   * Starts an extra etcd process (a member the test added with memberAdd, or an intruder with
   * foreign certificates). It is tracked and stopped with the cluster. Does not wait for health.
   */
  spawnMember(options: SpawnMemberOptions): Promise<EtcdTestMember>;
  /** Waits until every running member answers a status call and all name the same running leader. */
  waitHealthy(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Stops every process it started, closes clients and removes `dir` when the testkit made it
   * (SIGKILL then, as the data is discarded; SIGTERM when the caller's `dir` keeps it).
   */
  stop(): Promise<void>;
}

export interface StartEtcdClusterOptions {
  members: 1 | 3 | 5;
  /** The cluster PKI; member certificates are issued from it. */
  pki: ClusterPki;
  /** Member names; default `etcd-1` ... `etcd-n`. */
  names?: readonly string[];
  /** The etcd binary. Default `ETCD_BINARY` or `etcd` on PATH. */
  etcdBinary?: string;
  /** The etcdctl binary. Default `ETCDCTL_BINARY` or `etcdctl` on PATH. */
  etcdctlBinary?: string;
  /** Where to put data, certificates and logs. Default a new temporary folder. */
  dir?: string;
  /** How long to wait for the cluster to become healthy. Default 30 s. */
  timeoutMs?: number;
  logger?: Logger;
  /**
   * The etcd command-line renderer. Pass `memberFlags` from @hacp/etcd so that the members run with
   * exactly the flags production renders (the testkit cannot depend on @hacp/etcd, whose tests use
   * it). Default: the testkit's own minimal renderer with the same TLS flags.
   */
  memberFlags?: (input: EtcdFlagsInput) => string[];
}

/** What the testkit gives the renderer for one member: the shape of @hacp/etcd's `memberFlags` input. */
export interface EtcdFlagsInput {
  name: string;
  clientUrls: string[];
  peerUrls: string[];
  pkiPaths: {
    trustedCaFile: string;
    certFile: string;
    keyFile: string;
    peerCertFile: string;
    peerKeyFile: string;
  };
  initialCluster: string;
  state: 'new' | 'existing';
  token: string;
  dataDir: string;
}

interface MemberState {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  flags: EtcdFlagsInput;
  process: SpawnedProcess | undefined;
  /** Set while the test stopped or killed it on purpose. */
  stoppedOnPurpose: boolean;
}

function stringify(contents: NodeFile['contents']): string {
  return typeof contents === 'string' ? contents : contents.reveal();
}

async function writeFiles(dir: string, files: readonly NodeFile[]): Promise<void> {
  for (const file of files) {
    const path = join(dir, file.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, stringify(file.contents), { mode: file.mode });
    await chmod(path, file.mode);
  }
}

function memberFiles(certs: ReplicaCerts, trustedCaPem: string): NodeFile[] {
  return [
    { path: 'pki/ca.crt', mode: 0o644, contents: trustedCaPem },
    { path: 'pki/peer.crt', mode: 0o644, contents: certs.etcdPeer.certPem },
    { path: 'pki/peer.key', mode: 0o600, contents: certs.etcdPeer.keyPem },
    { path: 'pki/server.crt', mode: 0o644, contents: certs.etcdServer.certPem },
    { path: 'pki/server.key', mode: 0o600, contents: certs.etcdServer.keyPem },
  ];
}

function flagsInput(options: {
  name: string;
  memberDir: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  initialCluster: string;
  state: 'new' | 'existing';
  token: string;
}): EtcdFlagsInput {
  const pki = (file: string) => join(options.memberDir, 'pki', file);
  return {
    name: options.name,
    clientUrls: [`https://${HOST}:${options.clientPort}`],
    peerUrls: [`https://${HOST}:${options.peerPort}`],
    pkiPaths: {
      trustedCaFile: pki('ca.crt'),
      certFile: pki('server.crt'),
      keyFile: pki('server.key'),
      peerCertFile: pki('peer.crt'),
      peerKeyFile: pki('peer.key'),
    },
    initialCluster: options.initialCluster,
    state: options.state,
    token: options.token,
    dataDir: options.dataDir,
  };
}

/** The testkit's own renderer, for its own tests; @hacp/etcd's tests pass the production one. */
function defaultFlags(input: EtcdFlagsInput): string[] {
  const { pkiPaths: pki } = input;
  return [
    `--name=${input.name}`,
    `--data-dir=${input.dataDir}`,
    `--listen-client-urls=${input.clientUrls.join(',')}`,
    `--advertise-client-urls=${input.clientUrls.join(',')}`,
    `--listen-peer-urls=${input.peerUrls.join(',')}`,
    `--initial-advertise-peer-urls=${input.peerUrls.join(',')}`,
    `--initial-cluster=${input.initialCluster}`,
    `--initial-cluster-state=${input.state}`,
    `--initial-cluster-token=${input.token}`,
    `--cert-file=${pki.certFile}`,
    `--key-file=${pki.keyFile}`,
    '--client-cert-auth',
    `--trusted-ca-file=${pki.trustedCaFile}`,
    `--peer-cert-file=${pki.peerCertFile}`,
    `--peer-key-file=${pki.peerKeyFile}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${pki.trustedCaFile}`,
    '--logger=zap',
    '--log-outputs=stderr',
  ];
}

async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function etcdEnv(): NodeJS.ProcessEnv {
  // etcd 3.4 refuses to start on arm64 without this.
  return process.arch === 'x64'
    ? {}
    : { ETCD_UNSUPPORTED_ARCH: process.arch === 'arm64' ? 'arm64' : process.arch };
}

function assertBinary(binary: string, debianPackage: string): void {
  const found = binary.includes('/')
    ? existsSync(binary)
    : (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, binary)));
  if (!found) {
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: `${binary} is not installed.`,
      actions: [`Install the Debian package ${debianPackage} (or run bash scripts/setup.sh).`],
      details: { binary, package: debianPackage },
    });
  }
}

/**
 * Starts a real etcd cluster (Debian's etcd 3.4) on 127.0.0.1 with free ports, a unique
 * `--initial-cluster-token`, peer and client mTLS (`--peer-client-cert-auth`,
 * `--client-cert-auth`) with certificates issued from `pki`, and waits until it is healthy.
 * Whatever happens, `stop()` kills what it started; a start that fails stops everything it began.
 *
 * @example
 * const cluster = await startEtcdCluster({ members: 3, pki });
 * try {
 *   await cluster.client().put('greeting').value('hello');
 * } finally {
 *   await cluster.stop();
 * }
 * @throws HacpError DEPENDENCY_MISSING when etcd is not installed; INVALID_ARGUMENT for a member
 *   count other than 1, 3 or 5; TIMEOUT (with the members' log tails) when it does not become healthy.
 */
export async function startEtcdCluster(options: StartEtcdClusterOptions): Promise<EtcdTestCluster> {
  const logger = resolveLogger(options.logger);
  if (![1, 3, 5].includes(options.members)) {
    throw invalidArgument({
      field: 'members',
      value: options.members,
      message: `An etcd test cluster has 1, 3 or 5 members, not ${options.members}.`,
    });
  }
  const names = options.names ?? Array.from({ length: options.members }, (_, i) => `etcd-${i + 1}`);
  if (names.length !== options.members || new Set(names).size !== names.length) {
    throw invalidArgument({ field: 'names', message: `names must hold ${options.members} distinct names.` });
  }
  const etcdBinary = options.etcdBinary ?? process.env.ETCD_BINARY ?? 'etcd';
  const etcdctlBinary = options.etcdctlBinary ?? process.env.ETCDCTL_BINARY ?? 'etcdctl';
  assertBinary(etcdBinary, 'etcd-server');

  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'hacp-etcd-')));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const token = `hacp-test-${randomBytes(6).toString('hex')}`;
  const renderFlags = options.memberFlags ?? defaultFlags;
  const ports = await freePorts(names.length * 2);

  let pki = options.pki;
  const members = new Map<string, MemberState>();
  const clients = new Set<Etcd3>();
  const initialCluster = names.map((name, i) => `${name}=https://${HOST}:${ports[i * 2 + 1]}`).join(',');

  const clientTls: TlsFiles = {
    caFile: join(dir, 'client', 'ca.crt'),
    certFile: join(dir, 'client', 'client.crt'),
    keyFile: join(dir, 'client', 'client.key'),
  };
  await writeFiles(join(dir, 'client'), [
    { path: 'ca.crt', mode: 0o644, contents: pki.etcdCa.certPem },
    { path: 'client.crt', mode: 0o644, contents: pki.etcdClient.certPem },
    { path: 'client.key', mode: 0o600, contents: pki.etcdClient.keyPem },
  ]);

  const view = (state: MemberState): EtcdTestMember => ({
    name: state.name,
    clientUrl: `https://${HOST}:${state.clientPort}`,
    peerUrl: `https://${HOST}:${state.peerPort}`,
    dataDir: state.dataDir,
    logFile: state.logFile,
    get pid() {
      return state.process?.isRunning() ? state.process.pid : undefined;
    },
    get running() {
      return state.process?.isRunning() ?? false;
    },
  });

  const startProcess = (state: MemberState) => {
    state.stoppedOnPurpose = false;
    state.process = spawnTracked({
      command: etcdBinary,
      args: renderFlags(state.flags),
      logFile: state.logFile,
      marker: state.dataDir,
      env: etcdEnv(),
    });
    logger.debug('started etcd member', {
      name: state.name,
      pid: state.process.pid,
      clientPort: state.clientPort,
    });
  };

  const stateOf = (name: string): MemberState => {
    const state = members.get(name);
    if (state === undefined) {
      throw invalidArgument({
        field: 'name',
        value: name,
        message: `No member is named ${name}; members are ${[...members.keys()].join(', ')}.`,
      });
    }
    return state;
  };

  const makeClient = (
    clientOptions: { members?: readonly string[]; withCertificate?: boolean; dialTimeoutMs?: number } = {},
  ): Etcd3 => {
    const chosen = (clientOptions.members ?? [...members.keys()]).map(stateOf);
    const withCertificate = clientOptions.withCertificate ?? true;
    const client = new Etcd3({
      hosts: chosen.map((state) => `https://${HOST}:${state.clientPort}`),
      credentials: {
        rootCertificate: Buffer.from(pki.etcdCa.certPem),
        ...(withCertificate
          ? {
              certChain: Buffer.from(pki.etcdClient.certPem),
              privateKey: Buffer.from(pki.etcdClient.keyPem.reveal()),
            }
          : {}),
      },
      // Member certificates name localhost; this also avoids Node's warning about IP server names.
      grpcOptions: { 'grpc.ssl_target_name_override': 'localhost' },
      faultHandling: { host: () => noop, global: noop },
      dialTimeout: clientOptions.dialTimeoutMs ?? 5000,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5000 }),
    });
    clients.add(client);
    return client;
  };

  const memberStatus = async (state: MemberState) => {
    const client = makeClient({ members: [state.name], dialTimeoutMs: 2000 });
    try {
      return await client.maintenance.status();
    } finally {
      client.close();
      clients.delete(client);
    }
  };

  const waitHealthy = async ({ timeoutMs = options.timeoutMs ?? 30_000 } = {}) => {
    const running = () => [...members.values()].filter((state) => state.process?.isRunning());
    await waitUntil({
      description: `etcd members ${[...members.keys()].join(', ')} to become healthy`,
      timeoutMs,
      minDelayMs: 100,
      maxDelayMs: 500,
      check: async () => {
        const exited = [...members.values()].filter(
          (state) => !state.stoppedOnPurpose && state.process !== undefined && !state.process.isRunning(),
        );
        if (exited.length > 0) {
          const first = exited[0] as MemberState;
          throw new HacpError({
            code: ErrorCode.UNAVAILABLE,
            message: `etcd member ${first.name} exited while starting. Its log ends with:\n${await logTail(first.logFile)}`,
            retryable: false,
            details: { member: first.name, logFile: first.logFile },
          });
        }
        const statuses = await Promise.all(
          running().map((state) =>
            memberStatus(state).then(
              (status) => status,
              (error: Error) => error,
            ),
          ),
        );
        const failed = statuses.find((status): status is Error => status instanceof Error);
        if (failed) return { done: false, reason: failed.message };
        const answered = statuses as { leader: string; header: { member_id: string } }[];
        const leaders = new Set(answered.map((status) => status.leader));
        const runningIds = new Set(answered.map((status) => status.header.member_id));
        // A leader that was just killed is still named by its followers until they time it out.
        const [leader] = leaders;
        if (leaders.size !== 1 || leader === undefined || !runningIds.has(leader)) {
          return { done: false, reason: 'the running members do not agree on a running leader yet' };
        }
        return { done: true, value: undefined };
      },
    }).catch(async (error) => {
      if ((error as HacpError).code !== ErrorCode.TIMEOUT) throw error;
      const tails = await Promise.all(
        [...members.values()].map(
          async (state) => `--- ${state.name} (${state.logFile})\n${await logTail(state.logFile, 5)}`,
        ),
      );
      throw new HacpError({
        code: ErrorCode.TIMEOUT,
        message: `${(error as Error).message}\n${tails.join('\n')}`,
        details: (error as HacpError).details,
        cause: error,
      });
    });
  };

  const spawnMember = async (spawnOptions: SpawnMemberOptions): Promise<EtcdTestMember> => {
    if (members.has(spawnOptions.name)) {
      throw invalidArgument({
        field: 'name',
        value: spawnOptions.name,
        message: `Member ${spawnOptions.name} exists already.`,
      });
    }
    const [clientPort, peerPort] =
      spawnOptions.clientPort !== undefined && spawnOptions.peerPort !== undefined
        ? [spawnOptions.clientPort, spawnOptions.peerPort]
        : ((await freePorts(2)) as [number, number]);
    const memberDir = join(dir, spawnOptions.name);
    let certs = spawnOptions.certs;
    if (certs === undefined) {
      certs = await issueReplicaCerts(pki, {
        replicaName: spawnOptions.name,
        hostname: spawnOptions.name,
        internalIp: HOST,
      });
      pki = withReplica(pki, certs);
    }
    await writeFiles(memberDir, memberFiles(certs, spawnOptions.trustedCaPem ?? pki.etcdCa.certPem));
    const ownPair = `${spawnOptions.name}=https://${HOST}:${peerPort}`;
    const cluster = spawnOptions.initialCluster.some((pair) => pair.startsWith(`${spawnOptions.name}=`))
      ? spawnOptions.initialCluster
      : [...spawnOptions.initialCluster, ownPair];
    const state: MemberState = {
      name: spawnOptions.name,
      clientPort: clientPort as number,
      peerPort: peerPort as number,
      dataDir: join(memberDir, 'data'),
      logFile: join(memberDir, 'etcd.log'),
      flags: flagsInput({
        name: spawnOptions.name,
        memberDir,
        dataDir: join(memberDir, 'data'),
        clientPort: clientPort as number,
        peerPort: peerPort as number,
        initialCluster: cluster.join(','),
        state: spawnOptions.state,
        token,
      }),
      process: undefined,
      stoppedOnPurpose: false,
    };
    members.set(state.name, state);
    startProcess(state);
    return view(state);
  };

  const stop = async () => {
    for (const client of clients) client.close();
    clients.clear();
    // With the data about to be deleted a graceful stop buys nothing, and costs seconds: a leader
    // stopped with its peers tries to hand over leadership until that times out (7 s in etcd 3.4).
    const signal = options.dir === undefined ? 'SIGKILL' : 'SIGTERM';
    await Promise.all([...members.values()].map((state) => state.process?.stop({ signal, graceMs: 10_000 })));
    if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    logger.debug('stopped etcd test cluster', { dir });
  };

  try {
    for (const [i, name] of names.entries()) {
      const certs = await issueReplicaCerts(pki, { replicaName: name, hostname: name, internalIp: HOST });
      pki = withReplica(pki, certs);
      const memberDir = join(dir, name);
      await writeFiles(memberDir, memberFiles(certs, pki.etcdCa.certPem));
      const state: MemberState = {
        name,
        clientPort: ports[i * 2] as number,
        peerPort: ports[i * 2 + 1] as number,
        dataDir: join(memberDir, 'data'),
        logFile: join(memberDir, 'etcd.log'),
        flags: flagsInput({
          name,
          memberDir,
          dataDir: join(memberDir, 'data'),
          clientPort: ports[i * 2] as number,
          peerPort: ports[i * 2 + 1] as number,
          initialCluster,
          state: 'new',
          token,
        }),
        process: undefined,
        stoppedOnPurpose: false,
      };
      members.set(name, state);
    }
    for (const state of members.values()) startProcess(state);
    await waitHealthy();
  } catch (error) {
    await stop();
    throw error;
  }
  logger.info('etcd test cluster is healthy', { members: names, token });

  return {
    dir,
    token,
    get pki() {
      return pki;
    },
    get members() {
      return [...members.values()].map(view);
    },
    get endpoints() {
      return [...members.values()].map((state) => `https://${HOST}:${state.clientPort}`);
    },
    clientTls,
    member: (name) => view(stateOf(name)),
    client: makeClient,
    async etcdctl(args, etcdctlOptions = {}) {
      assertBinary(etcdctlBinary, 'etcd-client');
      const endpoints =
        etcdctlOptions.endpoints ?? [...members.values()].map((s) => `https://${HOST}:${s.clientPort}`);
      const tls =
        etcdctlOptions.withCertificate === false
          ? [`--cacert=${clientTls.caFile}`]
          : [`--cacert=${clientTls.caFile}`, `--cert=${clientTls.certFile}`, `--key=${clientTls.keyFile}`];
      const { stdout } = await run(
        etcdctlBinary,
        [`--endpoints=${endpoints.join(',')}`, ...tls, '--dial-timeout=3s', '--command-timeout=5s', ...args],
        { env: { ...process.env, ETCDCTL_API: '3' } },
      );
      return stdout;
    },
    async leader() {
      const running = [...members.values()].filter((state) => state.process?.isRunning());
      const statuses = await Promise.all(
        running.map(async (state) => ({ name: state.name, status: await memberStatus(state) })),
      );
      const leaderId = statuses[0]?.status.leader;
      const found = statuses.find((entry) => entry.status.header.member_id === leaderId);
      if (found === undefined) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: 'No running member leads the cluster right now.',
          details: { leaderId: leaderId ?? '' },
        });
      }
      return found.name;
    },
    async stopMember(name) {
      const state = stateOf(name);
      state.stoppedOnPurpose = true;
      await state.process?.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    },
    async killMember(name) {
      const state = stateOf(name);
      state.stoppedOnPurpose = true;
      await state.process?.stop({ signal: 'SIGKILL', graceMs: 10_000 });
    },
    async startMember(name, startOptions = {}) {
      const state = stateOf(name);
      if (state.process?.isRunning()) return;
      if (startOptions.peerPort !== undefined && startOptions.peerPort !== state.peerPort) {
        const peerUrl = `https://${HOST}:${startOptions.peerPort}`;
        state.peerPort = startOptions.peerPort;
        // With a data dir, etcd ignores the initial-cluster flags; they only have to be well formed.
        state.flags = {
          ...state.flags,
          peerUrls: [peerUrl],
          initialCluster: `${name}=${peerUrl}`,
          state: 'existing',
        };
      }
      startProcess(state);
      await waitUntil({
        description: `etcd member ${name} to answer after its restart`,
        timeoutMs: options.timeoutMs ?? 30_000,
        minDelayMs: 100,
        maxDelayMs: 500,
        check: async () => {
          if (!state.process?.isRunning()) {
            throw new HacpError({
              code: ErrorCode.UNAVAILABLE,
              message: `etcd member ${name} exited after its restart:\n${await logTail(state.logFile)}`,
              retryable: false,
            });
          }
          return memberStatus(state).then(
            () => ({ done: true as const, value: undefined }),
            (error: Error) => ({ done: false as const, reason: error.message }),
          );
        },
      });
    },
    spawnMember,
    waitHealthy,
    stop,
  };
}
