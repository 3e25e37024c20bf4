import { isIP } from 'node:net';
import {
  ErrorCode,
  HacpError,
  invalidArgument,
  isHacpError,
  type Logger,
  resolveLogger,
  type Secret,
  waitUntil,
} from '@hacp/core';
import { noop } from 'cockatiel';
import { Etcd3, type IMember, type IStatusResponse } from 'etcd3';
import { EtcdReason, etcdReasonOf, toHacpError } from './errors.js';
import { formatInitialCluster, type InitialClusterEntry } from './flags.js';
import { fetchMetrics, snapshotsInFlightTo } from './metrics.js';
import { type RestoredMember, type RestoreOptions, restoreSingleMember } from './restore.js';
import { type SnapshotResult, type SnapshotSource, streamSnapshot } from './snapshot.js';
import { assertMemberId, assertMemberName, hexId, normalizeEtcdUrl } from './urls.js';

/** The client side of etcd's mutual TLS: hacp's etcd client certificate and the etcd CA. */
export interface EtcdTls {
  /** The etcd CA, to verify members. */
  caPem: string;
  /** The client certificate (signed by the etcd CA, clientAuth). */
  certPem: string;
  keyPem: Secret | string;
  /**
   * The name members' serving certificates are checked against. Default: the endpoint's host, or
   * `localhost` for an IP endpoint (every member certificate hacp issues carries it, and only the
   * cluster's own etcd CA is trusted).
   */
  serverName?: string;
}

export interface MembershipClientOptions {
  /** Client URLs of one or more members (`https://host:2379`). More members give more ways in. */
  endpoints: readonly string[];
  tls: EtcdTls;
  logger?: Logger;
  /** Per-call deadline. Default 5000 ms. */
  callTimeoutMs?: number;
  /**
   * How to reach a member found in the member list (for health, leader moves and status). Default:
   * its first advertised client URL. Providers whose members advertise addresses this machine cannot
   * reach return a tunnel's URL here, or undefined for "unreachable".
   */
  endpointFor?: (member: EtcdMember) => string | undefined;
}

/** One etcd member as the member list shows it. Ids are decimal strings (uint64). */
export interface EtcdMember {
  id: string;
  /** Empty until the member has started once. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  learner: boolean;
  /** False for a member added but never started (`unstarted` in etcdctl). */
  started: boolean;
}

/** What one endpoint says about itself. */
export interface EndpointStatus {
  endpoint: string;
  ok: boolean;
  memberId?: string;
  leaderId?: string;
  raftTerm?: string;
  raftIndex?: string;
  appliedIndex?: string;
  dbSizeBytes?: number;
  dbSizeInUseBytes?: number;
  version?: string;
  learner?: boolean;
  /** Active alarms on this member (`NOSPACE`, `CORRUPT`). */
  alarms: string[];
  /** Errors the member reports about itself. */
  errors: string[];
  /** Why the endpoint did not answer. */
  error?: { code: ErrorCode; message: string };
}

/** Whether a member answers a linearizable read (a serializable one for a learner) in time. */
export interface MemberHealth {
  id: string;
  name: string;
  learner: boolean;
  endpoint?: string;
  healthy: boolean;
  tookMs?: number;
  error?: string;
}

/** What the new member's etcd needs to join (`memberFlags` takes both as they are). */
export interface AddedLearner {
  member: EtcdMember;
  /** `--initial-cluster` for the new member: every member, the new one under its name. */
  initialCluster: string;
  state: 'existing';
  /** The endpoint the add went through. */
  through: string;
}

export interface KvHash {
  endpoint: string;
  memberId: string;
  hash: string;
  revision: string;
  compactRevision: string;
}

/** The membership operations, each safe by construction. */
export interface MembershipClient {
  /** The member list, from the first endpoint that answers. */
  members(options?: CallOptions): Promise<EtcdMember[]>;
  /** Status of each configured endpoint (or the given ones); an endpoint that does not answer has `ok: false`. */
  status(options?: CallOptions & { endpoints?: readonly string[] }): Promise<EndpointStatus[]>;
  /** Which members answer a linearizable read within `timeoutMs` (default 3000). */
  health(options?: CallOptions & { timeoutMs?: number }): Promise<MemberHealth[]>;
  /** Adds a learner through a healthy voter, after checking every voter is healthy and no learner exists. */
  addLearner(
    options: { name: string; peerUrl: string } & CallOptions & { timeoutMs?: number },
  ): Promise<AddedLearner>;
  /** Promotes a learner once it has caught up; evicts it when it stalls. */
  promoteWhenReady(id: string, options?: PromoteOptions): Promise<EtcdMember>;
  /** Removes a member through another one, after projecting quorum; moves leadership away first. */
  removeMember(id: string, options?: CallOptions & { timeoutMs?: number }): Promise<RemovedMember>;
  /** Moves leadership off member `id`, if it leads, to the most caught-up healthy voter. */
  moveLeaderAway(id: string, options?: CallOptions & { timeoutMs?: number }): Promise<LeaderMove>;
  /** Streams a snapshot from a healthy member to `file` (0600), verified before it is kept. */
  snapshot(file: string, options?: CallOptions & { endpoint?: string }): Promise<SnapshotResult>;
  /** Restores a snapshot into a new data dir for a one-member cluster (disaster recovery). */
  restoreSingleMember(snapshot: string, dataDir: string, options: RestoreOptions): Promise<RestoredMember>;
  /** Points a stopped member at a new peer URL, keeping its id and data (etcd's member migration). */
  migrateMember(
    id: string,
    newPeerUrl: string,
    options?: CallOptions & { timeoutMs?: number },
  ): Promise<MigratedMember>;
  /** The KV hash of every started voter at one revision (the raw Maintenance.HashKV call). */
  hashKv(options?: CallOptions & { revision?: string }): Promise<KvHash[]>;
  /** Closes every connection. */
  close(): void;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface PromoteOptions extends CallOptions {
  /** Give up (leaving the learner in place) after this long. Default 120000 ms, kubeadm's EtcdAPICall. */
  timeoutMs?: number;
  /**
   * Evict the learner when it has made no progress for this long: its applied index has not moved and
   * the leader is not streaming it a snapshot (read from the leader's /metrics). Default 60000 ms (k3s
   * waits 5 minutes, etcd-manager 1 minute; a learner that makes no progress for a minute is not coming).
   */
  stallAfterMs?: number;
  /** Delay between promotion attempts. Default 500 ms, kubeadm's. */
  intervalMs?: number;
  /**
   * Also wait, within `timeoutMs`, until the promoted member answers a linearizable read: etcd 3.4
   * counts a member as a voter before it serves clients. Default false (the promotion is the result).
   */
  waitServing?: boolean;
}

export interface RemovedMember {
  removed: EtcdMember;
  through: string;
  /** Set when the member led and leadership moved first. */
  leaderMove?: LeaderMove;
}

export interface LeaderMove {
  moved: boolean;
  /** The leader before the call. */
  from: string;
  /** The leader after it. */
  to: string;
}

export interface MigratedMember {
  member: EtcdMember;
  initialCluster: string;
  state: 'existing';
  through: string;
}

function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function toMember(member: IMember): EtcdMember {
  return {
    id: member.ID,
    name: member.name,
    peerUrls: [...member.peerURLs],
    clientUrls: [...member.clientURLs],
    learner: member.isLearner === true,
    started: member.name !== '',
  };
}

function describeMember(member: EtcdMember): string {
  return `${member.name || '(unstarted)'} [${hexId(member.id)}]`;
}

function aborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new HacpError({
      code: ErrorCode.ABORTED,
      message: `Stopped before ${what}: the operation was aborted.`,
      actions: ['Run the same command again to continue.'],
      cause: signal.reason,
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A client for etcd's membership, holding the safety rules of kubeadm, Cluster API and k3s: one
 * learner at a time, added through a healthy member and promoted only once caught up; removals
 * projected against quorum and sent through a remaining member; leadership moved off a member
 * before it goes. Every etcd failure comes out as a HacpError (see `toHacpError`).
 *
 * @example
 * const etcd = createMembershipClient({
 *   endpoints: ['https://10.0.0.2:2379'],
 *   tls: { caPem, certPem, keyPem },
 * });
 * try {
 *   const added = await etcd.addLearner({ name: 'kubernetes-master-a1b', peerUrl: 'https://10.0.0.3:2380' });
 *   // start etcd on the new replica with memberFlags({ ..., initialCluster: added.initialCluster, state: added.state })
 *   await etcd.promoteWhenReady(added.member.id);
 * } finally {
 *   etcd.close();
 * }
 * @throws HacpError INVALID_ARGUMENT when no endpoint is given or one is not an https URL.
 */
export function createMembershipClient(options: MembershipClientOptions): MembershipClient {
  const logger = resolveLogger(options.logger);
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw invalidArgument({ field: 'endpoints', message: 'Give at least one etcd client URL in endpoints.' });
  }
  const endpoints = options.endpoints.map((url) => normalizeEtcdUrl(url, 'endpoints'));
  const tls = options.tls;
  if (typeof tls?.caPem !== 'string' || typeof tls.certPem !== 'string' || tls.keyPem === undefined) {
    throw invalidArgument({
      field: 'tls',
      message: 'tls needs caPem, certPem and keyPem: etcd runs with client certificate auth.',
    });
  }
  const callTimeoutMs = options.callTimeoutMs ?? 5000;
  const endpointFor =
    options.endpointFor ??
    ((member: EtcdMember) => (member.clientUrls[0] === undefined ? undefined : member.clientUrls[0]));
  const connections = new Map<string, Etcd3>();
  let closed = false;
  // Client URLs of the members last listed: the way in once the configured endpoints are gone
  // (a cluster grown from its first member and then shrunk without it), as etcd's own auto-sync does.
  let discovered: string[] = [];
  const routes = () => [...new Set([...discovered, ...endpoints])];

  const connect = (url: string): Etcd3 => {
    if (closed) {
      throw new HacpError({ code: ErrorCode.ABORTED, message: 'The membership client is closed.' });
    }
    const existing = connections.get(url);
    if (existing !== undefined) return existing;
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const serverName = tls.serverName ?? (isIP(host) === 0 ? undefined : 'localhost');
    const key = typeof tls.keyPem === 'string' ? tls.keyPem : tls.keyPem.reveal();
    const client = new Etcd3({
      hosts: [url],
      credentials: {
        rootCertificate: Buffer.from(tls.caPem),
        certChain: Buffer.from(tls.certPem),
        privateKey: Buffer.from(key),
      },
      ...(serverName === undefined ? {} : { grpcOptions: { 'grpc.ssl_target_name_override': serverName } }),
      // Admin calls retry on their own terms; etcd3's circuit breaker would turn the 5-second
      // "unhealthy cluster" gate into BrokenCircuitError (toolchain notes §2).
      faultHandling: { host: () => noop, global: noop },
      dialTimeout: callTimeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    });
    connections.set(url, client);
    return client;
  };

  /** Runs one etcd call on one endpoint and maps its failure. */
  const call = async <T>(
    url: string,
    operation: string,
    run: (client: Etcd3) => Promise<T>,
    memberId?: string,
  ): Promise<T> => {
    try {
      return await run(connect(url));
    } catch (error) {
      throw toHacpError(error, { operation, endpoint: url, ...(memberId === undefined ? {} : { memberId }) });
    }
  };

  const noEndpointAnswered = (tried: readonly string[], last: unknown, what: string): HacpError =>
    new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Could not ${what}: none of the etcd endpoints answered (${tried.join(', ')}). Last error: ${
        last instanceof Error ? last.message : String(last)
      }`,
      actions: [
        'Check that the endpoints are the members’ client URLs and that the members run.',
        'Check the TLS material: the CA must be the cluster’s etcd CA and the client certificate must be signed by it.',
      ],
      retryable: true,
      details: {
        endpoints: [...tried],
        reason: etcdReasonOf(last) ?? EtcdReason.CONNECTION,
      },
      cause: last,
    });

  /** The first configured (or given) endpoint that completes `run`. */
  const anyEndpoint = async <T>(
    operation: string,
    run: (client: Etcd3) => Promise<T>,
    candidates: readonly string[] = routes(),
  ): Promise<{ value: T; endpoint: string }> => {
    let last: unknown;
    for (const url of candidates) {
      try {
        return { value: await call(url, operation, run), endpoint: url };
      } catch (error) {
        last = error;
        const reason = etcdReasonOf(error);
        if (
          reason !== EtcdReason.CONNECTION &&
          reason !== EtcdReason.DEADLINE &&
          reason !== EtcdReason.LEARNER_RPC
        ) {
          throw error;
        }
      }
    }
    throw noEndpointAnswered(candidates, last, operation);
  };

  const members = async (callOptions: CallOptions = {}): Promise<EtcdMember[]> => {
    aborted(callOptions.signal, 'listing members');
    const { value } = await anyEndpoint('list the etcd members', async (client) => {
      // etcd 3.4 serves the member list from the member's own applied state, which on a follower can
      // lag a change that just committed; a linearizable read first makes it catch up (what 3.5's
      // linearizable member list does). Without quorum that read cannot finish: the local list is then
      // the only one there is.
      await client.kv
        .range({ key: Buffer.from('hacp/barrier'), limit: 1, serializable: false })
        .catch(() => undefined);
      return client.cluster.memberList({});
    });
    const list = value.members.map(toMember);
    discovered = list
      .filter((member) => member.started && !member.learner)
      .map((member) => endpointFor(member))
      .filter((url): url is string => url !== undefined);
    return list;
  };

  const statusOf = async (url: string, deadlineMs = callTimeoutMs): Promise<EndpointStatus> => {
    try {
      const status: IStatusResponse = await call(url, 'read the member status', (client) =>
        client.maintenance.status({ deadline: Date.now() + deadlineMs }),
      );
      const memberId = status.header.member_id;
      const alarms = await call(url, 'read alarms', (client) =>
        client.maintenance.alarm(
          { action: 'Get', memberID: '0', alarm: 'None' },
          { deadline: Date.now() + deadlineMs },
        ),
      ).then(
        (response) =>
          response.alarms.filter((alarm) => alarm.memberID === memberId).map((alarm) => String(alarm.alarm)),
        () => [] as string[],
      );
      return {
        endpoint: url,
        ok: true,
        memberId,
        leaderId: status.leader,
        raftTerm: status.raftTerm,
        raftIndex: status.raftIndex,
        appliedIndex: status.raftAppliedIndex,
        dbSizeBytes: Number(status.dbSize),
        dbSizeInUseBytes: Number(status.dbSizeInUse),
        version: status.version,
        learner: status.isLearner === true,
        alarms,
        errors: [...(status.errors ?? [])],
      };
    } catch (error) {
      const mapped = toHacpError(error, { operation: 'read the member status', endpoint: url });
      return {
        endpoint: url,
        ok: false,
        alarms: [],
        errors: [],
        error: { code: mapped.code, message: mapped.message },
      };
    }
  };

  const status = async (callOptions: CallOptions & { endpoints?: readonly string[] } = {}) => {
    aborted(callOptions.signal, 'reading status');
    const targets = (callOptions.endpoints ?? endpoints).map((url) => normalizeEtcdUrl(url, 'endpoints'));
    return Promise.all(targets.map((url) => statusOf(url)));
  };

  const healthOf = async (member: EtcdMember, timeoutMs: number): Promise<MemberHealth> => {
    const base = { id: member.id, name: member.name, learner: member.learner };
    if (!member.started) return { ...base, healthy: false, error: 'the member has never started' };
    const url = endpointFor(member);
    if (url === undefined) return { ...base, healthy: false, error: 'no reachable client URL' };
    const started = Date.now();
    try {
      await call(
        url,
        'read through the member',
        (client) =>
          client.kv.range(
            // Learners refuse linearizable reads; a serializable one still proves the process serves.
            { key: Buffer.from('hacp/health'), serializable: member.learner },
            { deadline: Date.now() + timeoutMs },
          ),
        member.id,
      );
      return { ...base, endpoint: url, healthy: true, tookMs: Date.now() - started };
    } catch (error) {
      return {
        ...base,
        endpoint: url,
        healthy: false,
        tookMs: Date.now() - started,
        error: error instanceof Error ? error.message : String(error),
      };
    }
  };

  const healthOfAll = async (list: readonly EtcdMember[], timeoutMs = 3000) =>
    Promise.all(list.map((member) => healthOf(member, timeoutMs)));

  const health = async (callOptions: CallOptions & { timeoutMs?: number } = {}) =>
    healthOfAll(await members(callOptions), callOptions.timeoutMs);

  /** Endpoints of healthy voters, `exclude` left out: where changes go through. */
  const healthyVoterEndpoints = (checked: readonly MemberHealth[], exclude?: string): string[] =>
    checked
      .filter(
        (entry) => entry.healthy && !entry.learner && entry.id !== exclude && entry.endpoint !== undefined,
      )
      .map((entry) => entry.endpoint as string);

  /** Retries `run` through `through` endpoints while etcd says "not now" (the 5-second gate, no leader). */
  const retrying = async <T>(options: {
    description: string;
    through: readonly string[];
    timeoutMs: number;
    signal?: AbortSignal;
    run: (client: Etcd3, url: string) => Promise<T>;
    memberId?: string;
    /** Turns a failure into a result (idempotent retries: "already done"). */
    settle?: (error: HacpError, attempt: number) => Promise<{ value: T } | undefined>;
  }): Promise<{ value: T; endpoint: string }> => {
    if (options.through.length === 0) {
      throw new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `Could not ${options.description}: no healthy voting member to send it through.`,
        actions: ['Check the cluster with `hacp status`; bring members back before changing membership.'],
      });
    }
    let index = 0;
    return waitUntil({
      description: `etcd to ${options.description}`,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      minDelayMs: 200,
      maxDelayMs: 1000,
      check: async (attempt) => {
        const url = options.through[index % options.through.length] as string;
        try {
          const value = await call(
            url,
            options.description,
            (client) => options.run(client, url),
            options.memberId,
          );
          return { done: true, value: { value, endpoint: url } };
        } catch (error) {
          const mapped = toHacpError(error, { operation: options.description, endpoint: url });
          const settled = options.settle ? await options.settle(mapped, attempt) : undefined;
          if (settled !== undefined) return { done: true, value: { value: settled.value, endpoint: url } };
          // A member that does not answer: try the next one.
          if (etcdReasonOf(mapped) === EtcdReason.CONNECTION) index++;
          throw mapped;
        }
      },
    });
  };

  const addLearner: MembershipClient['addLearner'] = async (request) => {
    assertMemberName(request.name);
    const peerUrl = normalizeEtcdUrl(request.peerUrl, 'peerUrl');
    aborted(request.signal, 'adding a learner');
    const before = await members(request);
    const sameUrl = before.find((member) => member.peerUrls.includes(peerUrl));
    const learnerFor = (list: readonly EtcdMember[], member: EtcdMember, through: string): AddedLearner => ({
      member,
      initialCluster: initialClusterOf(list, member.id, request.name),
      state: 'existing',
      through,
    });
    if (sameUrl !== undefined) {
      // A run that was interrupted after the add: the same learner, never started, is this one.
      if (sameUrl.learner && !sameUrl.started) {
        logger.info('etcd learner exists already; reusing it', { id: sameUrl.id, peerUrl });
        return learnerFor(before, sameUrl, endpoints[0] as string);
      }
      throw new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `Member ${describeMember(sameUrl)} has the peer URL ${peerUrl} already.`,
        actions: ['Use another peer URL for the new member, or remove the existing one first.'],
        details: { peerUrl, memberId: sameUrl.id },
      });
    }
    const sameName = before.find((member) => member.name === request.name);
    if (sameName !== undefined) {
      throw new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `A member named ${request.name} exists already (${describeMember(sameName)}).`,
        actions: ['Pick another replica name, or remove the existing member first.'],
        details: { name: request.name, memberId: sameName.id },
      });
    }
    const learner = before.find((member) => member.learner);
    if (learner !== undefined) {
      throw new HacpError({
        code: ErrorCode.LEARNER_PRESENT,
        message: `Learner ${describeMember(learner)} exists already; etcd allows one learner at a time.`,
        actions: [
          'Wait for it to be promoted, or remove it (`hacp repair` removes a stuck learner), then add again.',
        ],
        details: { learnerId: learner.id, learnerName: learner.name },
      });
    }
    const checked = await healthOfAll(before);
    const sick = checked.filter((entry) => !entry.learner && !entry.healthy);
    if (sick.length > 0) {
      throw new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `Not adding a member while ${sick.length === 1 ? 'voter' : 'voters'} ${sick
          .map((entry) => `${entry.name || '(unstarted)'} [${hexId(entry.id)}]`)
          .join(
            ', ',
          )} ${sick.length === 1 ? 'is' : 'are'} not healthy: should the new member fail to start, the cluster could lose quorum.`,
        actions: [
          'Bring the unhealthy members back, or remove or replace them first (`hacp repair`, `hacp replace`).',
        ],
        details: {
          unhealthy: sick.map((entry) => ({ id: entry.id, name: entry.name, error: entry.error ?? '' })),
        },
      });
    }
    const { value, endpoint } = await retrying({
      description: `add learner ${request.name} at ${peerUrl}`,
      through: healthyVoterEndpoints(checked),
      timeoutMs: request.timeoutMs ?? 15_000,
      signal: request.signal,
      run: async (client) => {
        const response = await client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true });
        return { member: toMember(response.member), list: response.members.map(toMember) };
      },
      settle: async (error, attempt) => {
        // An earlier attempt may have been applied even though its answer was lost.
        if (attempt === 0 || etcdReasonOf(error) !== EtcdReason.PEER_URL_EXISTS) return undefined;
        const list = await members();
        const added = list.find((member) => member.peerUrls.includes(peerUrl) && member.learner);
        return added === undefined ? undefined : { value: { member: added, list } };
      },
    });
    logger.info('added etcd learner', {
      id: value.member.id,
      name: request.name,
      peerUrl,
      through: endpoint,
    });
    return learnerFor(value.list, value.member, endpoint);
  };

  /** Whether the leader is streaming a database snapshot to member `id` now (its /metrics say so). */
  const snapshotInFlight = async (list: readonly EtcdMember[], id: string, deadlineMs: number) => {
    const { leaderId } = await currentLeader(list, deadlineMs);
    const leader = list.find((member) => member.id === leaderId);
    const url = leader === undefined ? undefined : endpointFor(leader);
    if (url === undefined) return false;
    const metrics = await fetchMetrics(url, tls, deadlineMs).catch(() => '');
    return snapshotsInFlightTo(metrics, id) > 0;
  };

  const promoteWhenReady: MembershipClient['promoteWhenReady'] = async (id, promoteOptions = {}) => {
    assertMemberId(id);
    const timeoutMs = promoteOptions.timeoutMs ?? 120_000;
    const stallAfterMs = promoteOptions.stallAfterMs ?? 60_000;
    const intervalMs = promoteOptions.intervalMs ?? 500;
    for (const [field, value] of [
      ['timeoutMs', timeoutMs],
      ['stallAfterMs', stallAfterMs],
      ['intervalMs', intervalMs],
    ] as const) {
      if (!(value > 0)) throw invalidArgument({ field, value, message: `${field} must be more than 0.` });
    }
    const startedAt = Date.now();
    // etcd 3.4 lets a member vote before it serves clients (it still has to publish its name).
    const ready = async (member: EtcdMember): Promise<EtcdMember> => {
      if (promoteOptions.waitServing !== true) return member;
      return waitUntil({
        description: `member ${describeMember(member)} to serve clients after its promotion`,
        timeoutMs: Math.max(1000, timeoutMs - (Date.now() - startedAt)),
        signal: promoteOptions.signal,
        minDelayMs: 100,
        maxDelayMs: 500,
        check: async () => {
          const current = (await members()).find((candidate) => candidate.id === member.id) ?? member;
          const checked = await healthOf(current, 1000);
          return checked.healthy
            ? { done: true, value: current }
            : { done: false, reason: checked.error ?? 'not serving yet' };
        },
      });
    };
    let lastProgressAt = startedAt;
    let lastApplied: bigint | undefined;
    let attempts = 0;
    for (;;) {
      aborted(promoteOptions.signal, `promoting learner ${hexId(id)}`);
      const list = await members(promoteOptions);
      const member = list.find((candidate) => candidate.id === id);
      if (member === undefined) throw memberNotFound(id, list);
      if (!member.learner) return ready(member);
      const checked = await healthOfAll(list.filter((candidate) => !candidate.learner));
      const through = healthyVoterEndpoints(checked);
      attempts++;
      let lastError: HacpError | undefined;
      for (const url of through) {
        try {
          const response = await call(
            url,
            `promote learner ${describeMember(member)}`,
            (client) => client.cluster.memberPromote({ ID: id }),
            id,
          );
          const promoted = response.members.map(toMember).find((candidate) => candidate.id === id);
          logger.info('promoted etcd learner', {
            id,
            name: member.name,
            attempts,
            tookMs: Date.now() - startedAt,
          });
          return ready(promoted ?? { ...member, learner: false });
        } catch (error) {
          lastError = error as HacpError;
          const reason = etcdReasonOf(error);
          if (reason === EtcdReason.MEMBER_NOT_LEARNER) return ready({ ...member, learner: false });
          if (reason === EtcdReason.MEMBER_NOT_FOUND) throw memberNotFound(id, list);
          if (reason === EtcdReason.CONNECTION || reason === EtcdReason.DEADLINE) continue;
          if (!isHacpError(error) || !error.retryable) throw error;
          break;
        }
      }
      // Progress is the learner's own applied index, or, while it cannot answer because the leader
      // is streaming it the database, that stream. Unreachable and unchanged mean no progress.
      const probeMs = Math.min(1000, Math.max(200, intervalMs));
      const learnerUrl = member.started ? endpointFor(member) : undefined;
      let progressed = false;
      if (learnerUrl !== undefined) {
        const learnerStatus = await statusOf(learnerUrl, probeMs);
        if (learnerStatus.ok && learnerStatus.memberId === id && learnerStatus.appliedIndex !== undefined) {
          const applied = BigInt(learnerStatus.appliedIndex);
          if (lastApplied === undefined || applied > lastApplied) {
            lastApplied = applied;
            progressed = true;
          }
        }
      }
      if (!progressed && (await snapshotInFlight(list, id, probeMs))) progressed = true;
      if (progressed) lastProgressAt = Date.now();
      const now = Date.now();
      if (now - lastProgressAt >= stallAfterMs) {
        await evictStalledLearner(member, through, promoteOptions.signal);
        throw new HacpError({
          code: ErrorCode.LEARNER_STALLED,
          message: `Learner ${describeMember(member)} made no progress for ${Math.round((now - lastProgressAt) / 1000)} s (${
            lastApplied === undefined ? 'it never answered' : `applied index stuck at ${lastApplied}`
          }); it was removed from the cluster, which is unchanged otherwise.`,
          actions: [
            'Check the new replica: its etcd process, its peer URL and firewall, its certificates (its log says why).',
            'Then add it again.',
          ],
          details: {
            memberId: id,
            name: member.name,
            stallAfterMs,
            appliedIndex: lastApplied === undefined ? null : lastApplied.toString(),
            lastError: lastError?.message ?? null,
          },
        });
      }
      if (now - startedAt >= timeoutMs) {
        throw new HacpError({
          code: ErrorCode.TIMEOUT,
          message: `Learner ${describeMember(member)} was not ready to promote after ${Math.round(timeoutMs / 1000)} s; it is still catching up and was left in place.`,
          actions: ['Run the same command again to keep waiting, or remove the learner.'],
          details: {
            memberId: id,
            timeoutMs,
            appliedIndex: lastApplied === undefined ? null : lastApplied.toString(),
          },
          cause: lastError,
        });
      }
      await sleep(intervalMs);
    }
  };

  const evictStalledLearner = async (
    member: EtcdMember,
    through: readonly string[],
    signal?: AbortSignal,
  ) => {
    await retrying({
      description: `remove stalled learner ${describeMember(member)}`,
      through,
      timeoutMs: 15_000,
      signal,
      memberId: member.id,
      run: async (client) => {
        await client.cluster.memberRemove({ ID: member.id });
      },
      settle: async (error) =>
        etcdReasonOf(error) === EtcdReason.MEMBER_NOT_FOUND ? { value: undefined } : undefined,
    });
    logger.warn('removed stalled etcd learner', { id: member.id, name: member.name });
  };

  const memberNotFound = (id: string, list: readonly EtcdMember[]) =>
    new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `No etcd member has the id ${id} (${hexId(id)} in hex). Members: ${
        list.map(describeMember).join(', ') || 'none'
      }.`,
      actions: ['Use an id from the member list (`hacp status`).'],
      details: { memberId: id, members: list.map((member) => member.id) },
    });

  /** Who leads, by asking every started voter it can reach; undefined while they disagree. */
  const currentLeader = async (list: readonly EtcdMember[], deadlineMs = callTimeoutMs) => {
    const voters = list.filter((member) => member.started && !member.learner);
    const statuses = await Promise.all(
      voters.map(async (member) => {
        const url = endpointFor(member);
        return { member, status: url === undefined ? undefined : await statusOf(url, deadlineMs) };
      }),
    );
    const answered = statuses.filter(
      (entry) => entry.status?.ok && entry.status.memberId === entry.member.id,
    );
    const leaders = new Set(answered.map((entry) => entry.status?.leaderId));
    const [leaderId] = leaders;
    return {
      leaderId: leaders.size === 1 && leaderId !== '0' ? leaderId : undefined,
      answered: answered.map((entry) => ({ member: entry.member, status: entry.status as EndpointStatus })),
    };
  };

  const moveLeaderAway: MembershipClient['moveLeaderAway'] = async (id, moveOptions = {}) => {
    assertMemberId(id);
    const list = await members(moveOptions);
    const target = list.find((member) => member.id === id);
    if (target === undefined) throw memberNotFound(id, list);
    const { leaderId, answered } = await currentLeader(list);
    if (leaderId === undefined) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: 'The etcd members do not agree on a leader right now, so leadership cannot be moved safely.',
        actions: ['Wait a few seconds for the election to settle, then retry.'],
        retryable: true,
      });
    }
    if (leaderId !== id) return { moved: false, from: leaderId, to: leaderId };
    const checked = await healthOfAll(list);
    const healthy = new Set(checked.filter((entry) => entry.healthy).map((entry) => entry.id));
    // The most caught-up healthy voter takes over: the election it triggers is the shortest.
    const candidates = answered
      .filter((entry) => entry.member.id !== id && !entry.member.learner && healthy.has(entry.member.id))
      .sort((a, b) => (BigInt(b.status.appliedIndex ?? '0') > BigInt(a.status.appliedIndex ?? '0') ? 1 : -1));
    const successor = candidates[0]?.member;
    if (successor === undefined) {
      throw new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `Member ${describeMember(target)} leads and no other healthy voter can take over.`,
        actions: ['Bring another member back before removing the leader.'],
        details: { memberId: id },
      });
    }
    const leaderUrl = endpointFor(target);
    if (leaderUrl === undefined) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `Leader ${describeMember(target)} has no client URL this machine can reach; moveLeader must go to the leader itself.`,
        actions: ['Make the leader reachable (a tunnel), then retry.'],
      });
    }
    await retrying({
      description: `move leadership from ${describeMember(target)} to ${describeMember(successor)}`,
      through: [leaderUrl],
      timeoutMs: moveOptions.timeoutMs ?? 15_000,
      signal: moveOptions.signal,
      memberId: id,
      run: async (client) => {
        await client.maintenance.moveLeader({ targetID: successor.id });
      },
      settle: async (error) => {
        if (etcdReasonOf(error) !== EtcdReason.NOT_LEADER) return undefined;
        // It stopped leading on its own meanwhile: that is what we wanted.
        const now = await currentLeader(list);
        return now.leaderId !== undefined && now.leaderId !== id ? { value: undefined } : undefined;
      },
    });
    const after = await waitUntil({
      description: `leadership to leave ${describeMember(target)}`,
      timeoutMs: moveOptions.timeoutMs ?? 15_000,
      signal: moveOptions.signal,
      minDelayMs: 50,
      maxDelayMs: 500,
      check: async () => {
        const now = await currentLeader(list);
        return now.leaderId !== undefined && now.leaderId !== id
          ? { done: true, value: now.leaderId }
          : { done: false, reason: `leader is ${now.leaderId ?? 'unknown'}` };
      },
    });
    logger.info('moved etcd leadership', { from: id, to: after });
    return { moved: true, from: id, to: after };
  };

  const removeMember: MembershipClient['removeMember'] = async (id, removeOptions = {}) => {
    assertMemberId(id);
    aborted(removeOptions.signal, `removing member ${hexId(id)}`);
    const list = await members(removeOptions);
    const target = list.find((member) => member.id === id);
    if (target === undefined) throw memberNotFound(id, list);
    const voters = list.filter((member) => !member.learner);
    const checked = await healthOfAll(list);
    const healthyVoters = checked.filter((entry) => entry.healthy && !entry.learner);
    let leaderMove: LeaderMove | undefined;
    if (!target.learner) {
      if (voters.length === 1) {
        throw new HacpError({
          code: ErrorCode.LAST_REPLICA,
          message: `Member ${describeMember(target)} is the only voting member; removing it would destroy the cluster.`,
          actions: ['To delete the whole cluster, use `hacp down`.'],
          details: { memberId: id },
        });
      }
      const quorumNow = quorumOf(voters.length);
      const quorumAfter = quorumOf(voters.length - 1);
      const remainingHealthy = healthyVoters.filter((entry) => entry.id !== id);
      const unhealthy = checked
        .filter((entry) => !entry.learner && !entry.healthy)
        .map((entry) => entry.name || entry.id);
      if (healthyVoters.length < quorumNow || remainingHealthy.length < quorumAfter) {
        throw new HacpError({
          code: ErrorCode.QUORUM_AT_RISK,
          message:
            healthyVoters.length < quorumNow
              ? `The cluster has lost quorum (${healthyVoters.length} of ${voters.length} voters healthy, ${quorumNow} needed), so no membership change can commit.`
              : `Removing ${describeMember(target)} would leave ${remainingHealthy.length} healthy ${
                  remainingHealthy.length === 1 ? 'voter' : 'voters'
                } of ${voters.length - 1}, fewer than the quorum of ${quorumAfter}${
                  unhealthy.length > 0 ? ` (not healthy: ${unhealthy.join(', ')})` : ''
                }.`,
          actions:
            healthyVoters.length < quorumNow
              ? [
                  'Bring members back until a majority runs, or restore from a snapshot (`restoreSingleMember`).',
                ]
              : ['Bring the unhealthy members back, or remove an unhealthy member instead.'],
          details: {
            memberId: id,
            voters: voters.length,
            healthyVoters: healthyVoters.length,
            quorumAfter,
            unhealthy,
          },
        });
      }
      if (checked.find((entry) => entry.id === id)?.healthy) {
        const moved = await moveLeaderAway(id, removeOptions);
        if (moved.moved) leaderMove = moved;
      }
    }
    const { endpoint } = await retrying({
      description: `remove member ${describeMember(target)}`,
      through: healthyVoterEndpoints(checked, id),
      timeoutMs: removeOptions.timeoutMs ?? 30_000,
      signal: removeOptions.signal,
      memberId: id,
      run: async (client) => {
        await client.cluster.memberRemove({ ID: id });
      },
      settle: async (error, attempt) =>
        attempt > 0 && etcdReasonOf(error) === EtcdReason.MEMBER_NOT_FOUND ? { value: undefined } : undefined,
    });
    logger.info('removed etcd member', { id, name: target.name, through: endpoint });
    return { removed: target, through: endpoint, ...(leaderMove === undefined ? {} : { leaderMove }) };
  };

  const migrateMember: MembershipClient['migrateMember'] = async (id, newPeerUrl, migrateOptions = {}) => {
    assertMemberId(id);
    const peerUrl = normalizeEtcdUrl(newPeerUrl, 'newPeerUrl');
    aborted(migrateOptions.signal, `migrating member ${hexId(id)}`);
    const list = await members(migrateOptions);
    const target = list.find((member) => member.id === id);
    if (target === undefined) throw memberNotFound(id, list);
    const holder = list.find((member) => member.id !== id && member.peerUrls.includes(peerUrl));
    if (holder !== undefined) {
      throw new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `Member ${describeMember(holder)} has the peer URL ${peerUrl} already.`,
        actions: ['Give the migrated member a peer URL no other member uses.'],
        details: { peerUrl, memberId: holder.id },
      });
    }
    const result = (updated: readonly EtcdMember[], through: string): MigratedMember => {
      const member = updated.find((candidate) => candidate.id === id) as EtcdMember;
      return {
        member,
        initialCluster: initialClusterOf(updated, id, target.name),
        state: 'existing',
        through,
      };
    };
    if (target.peerUrls.length === 1 && target.peerUrls[0] === peerUrl)
      return result(list, endpoints[0] as string);
    const ownUrl = endpointFor(target);
    if (ownUrl !== undefined) {
      const own = await statusOf(ownUrl);
      if (own.ok && own.memberId === id) {
        throw new HacpError({
          code: ErrorCode.CONFLICT,
          message: `Member ${describeMember(target)} still runs (it answers at ${ownUrl}); stop it before moving it to ${peerUrl}.`,
          actions: ['Stop the old instance’s etcd, move its data dir to the new replica, then migrate.'],
          details: { memberId: id, endpoint: ownUrl },
          retryable: false,
        });
      }
    }
    const voters = list.filter((member) => !member.learner);
    const checked = await healthOfAll(list);
    const healthyOthers = checked.filter((entry) => entry.healthy && !entry.learner && entry.id !== id);
    if (healthyOthers.length < quorumOf(voters.length)) {
      throw new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `Only ${healthyOthers.length} of ${voters.length} voters are healthy besides ${describeMember(target)}; the update needs ${quorumOf(voters.length)}.`,
        actions: ['Bring members back until a majority runs, then migrate.'],
        details: { memberId: id },
      });
    }
    const { value, endpoint } = await retrying({
      description: `move member ${describeMember(target)} to ${peerUrl}`,
      through: healthyVoterEndpoints(checked, id),
      timeoutMs: migrateOptions.timeoutMs ?? 15_000,
      signal: migrateOptions.signal,
      memberId: id,
      run: async (client) =>
        (await client.cluster.memberUpdate({ ID: id, peerURLs: [peerUrl] })).members.map(toMember),
    });
    logger.info('moved etcd member to a new peer URL', { id, name: target.name, peerUrl, through: endpoint });
    return result(value, endpoint);
  };

  const hashKv: MembershipClient['hashKv'] = async (hashOptions = {}) => {
    const list = await members(hashOptions);
    const voters = list.filter((member) => member.started && !member.learner);
    let revision = hashOptions.revision;
    if (revision === undefined) {
      // One revision for all, so the hashes are comparable even while writes go on.
      const { value } = await anyEndpoint('read the current revision', (client) =>
        client.maintenance.status({}),
      );
      revision = value.header.revision;
    }
    const at = revision;
    return Promise.all(
      voters.map(async (member) => {
        const url = endpointFor(member);
        if (url === undefined) throw memberUnreachable(member);
        const response = await call(
          url,
          `hash the key space of ${describeMember(member)}`,
          // etcd3 1.1.2's maintenance.hashKV() calls a method that does not exist (toolchain notes §2).
          (client) =>
            (client.maintenance as unknown as { client: RawCallable }).client.exec('Maintenance', 'HashKV', {
              revision: at,
            }) as Promise<{
              header: { member_id: string; revision: string };
              hash: string;
              compact_revision: string;
            }>,
          member.id,
        );
        return {
          endpoint: url,
          memberId: response.header.member_id,
          hash: String(response.hash),
          revision: at,
          compactRevision: String(response.compact_revision),
        };
      }),
    );
  };

  const memberUnreachable = (member: EtcdMember) =>
    new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Member ${describeMember(member)} has no client URL this machine can reach.`,
      details: { memberId: member.id },
    });

  const snapshot: MembershipClient['snapshot'] = async (file, snapshotOptions = {}) => {
    let source =
      snapshotOptions.endpoint === undefined
        ? undefined
        : normalizeEtcdUrl(snapshotOptions.endpoint, 'endpoint');
    if (source === undefined) {
      const checked = await health(snapshotOptions);
      source = healthyVoterEndpoints(checked)[0];
      if (source === undefined) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: 'No healthy voting member to take a snapshot from.',
          actions: ['Check the cluster with `hacp status`.'],
        });
      }
    }
    const from = source;
    const result = await streamSnapshot({
      file,
      endpoint: from,
      signal: snapshotOptions.signal,
      open: async () => {
        const client = connect(from);
        const status = await call(from, 'read the member status', () => client.maintenance.status({}));
        const stream = await call(from, 'start a snapshot', () => client.maintenance.snapshot());
        // At run time the stream is grpc-js's Readable, which is async-iterable; etcd3 types it narrowly.
        return {
          stream: stream as unknown as SnapshotSource['stream'],
          memberId: status.header.member_id,
          revision: status.header.revision,
        };
      },
    });
    logger.info('took etcd snapshot', { file: result.file, bytes: result.sizeBytes, from });
    return result;
  };

  return {
    members,
    status,
    health,
    addLearner,
    promoteWhenReady,
    removeMember,
    moveLeaderAway,
    snapshot,
    restoreSingleMember: (file, dataDir, restoreOptions) =>
      restoreSingleMember(file, dataDir, { logger: options.logger, ...restoreOptions }),
    migrateMember,
    hashKv,
    close() {
      closed = true;
      for (const client of connections.values()) client.close();
      connections.clear();
    },
  };
}

interface RawCallable {
  exec(service: string, method: string, payload: unknown): Promise<unknown>;
}

/** `--initial-cluster` for a member joining `list`: everyone, the joining member under `name`. */
function initialClusterOf(list: readonly EtcdMember[], id: string, name: string): string {
  const entries: InitialClusterEntry[] = [];
  for (const member of list) {
    const memberName = member.id === id ? name : member.name;
    // Another member that never started has no name; etcd would refuse the flag, and hacp never adds two.
    if (memberName === '') continue;
    for (const peerUrl of member.peerUrls) entries.push({ name: memberName, peerUrl });
  }
  return formatInitialCluster(entries);
}
