/**
 * What the client reads and never changes: the member list, each member's status and alarms, its
 * health, who leads, and the key-space hashes. Every call to a member carries a deadline, so a
 * member that is down or frozen costs one deadline and then counts as not answering.
 */
import type { IStatusResponse } from 'etcd3';
import type { EtcdConnection } from './connection.js';
import { toHacpError } from './errors.js';
import { describeMember, memberUnreachable, throwIfAborted, toMember } from './members.js';
import type { CallOptions, EndpointStatus, EtcdMember, KvHash, MemberHealth } from './types.js';
import { normalizeEtcdUrl } from './urls.js';

/** The reads, as the membership operations use them too. */
export interface EtcdReads {
  members(options?: CallOptions): Promise<EtcdMember[]>;
  status(options?: CallOptions & { endpoints?: readonly string[] }): Promise<EndpointStatus[]>;
  /** One endpoint's status; never throws (`ok: false` with the error). */
  statusOf(url: string, deadlineMs?: number): Promise<EndpointStatus>;
  health(options?: CallOptions & { timeoutMs?: number }): Promise<MemberHealth[]>;
  healthOf(member: EtcdMember, timeoutMs: number): Promise<MemberHealth>;
  healthOfAll(list: readonly EtcdMember[], timeoutMs?: number): Promise<MemberHealth[]>;
  /** Who leads, by asking every started voter it can reach; undefined while they disagree. */
  currentLeader(
    list: readonly EtcdMember[],
    deadlineMs?: number,
  ): Promise<{ leaderId?: string; answered: { member: EtcdMember; status: EndpointStatus }[] }>;
  hashKv(options?: CallOptions & { revision?: string }): Promise<KvHash[]>;
}

interface RawCallable {
  exec(service: string, method: string, payload: unknown, options?: unknown): Promise<unknown>;
}

/** How long a health read may take unless the caller says: a healthy member answers in milliseconds. */
const HEALTH_TIMEOUT_MS = 3000;

/** The reads over `connection`. */
export function createReads(connection: EtcdConnection): EtcdReads {
  const members: EtcdReads['members'] = async (options = {}) => {
    throwIfAborted(options.signal, 'listing members');
    const { value } = await connection.anyEndpoint(
      'list the etcd members',
      async (client, within) => {
        // etcd 3.4 serves the member list from the member's own applied state, which on a follower can
        // lag a change that just committed; a linearizable read first makes it catch up (what 3.5's
        // linearizable member list does). The local list is asked at the same time: a member that
        // cannot give even that does not answer at all (one deadline, not two), and without quorum,
        // when the read cannot finish, it is the only list there is.
        const [barrier, local] = await Promise.allSettled([
          client.kv.range({ key: Buffer.from('hacp/barrier'), limit: 1, serializable: false }, within()),
          client.cluster.memberList({}, within()),
        ]);
        if (local.status === 'rejected') throw local.reason;
        return barrier.status === 'fulfilled' ? client.cluster.memberList({}, within()) : local.value;
      },
      { deadlineMs: connection.deadlineOf(options) },
    );
    const list = value.members.map(toMember);
    connection.learnRoutes(list);
    return list;
  };

  const statusOf: EtcdReads['statusOf'] = async (url, deadlineMs = connection.deadlineOf()) => {
    try {
      return await connection.call(
        url,
        'read the member status',
        async (client, within) => {
          const status: IStatusResponse = await client.maintenance.status(within());
          const alarms = await client.maintenance
            .alarm({ action: 'Get', memberID: '0', alarm: 'None' }, within())
            .then(
              (response) =>
                response.alarms
                  .filter((alarm) => alarm.memberID === status.header.member_id)
                  .map((alarm) => String(alarm.alarm)),
              () => [] as string[],
            );
          return answeredStatus(url, status, alarms);
        },
        { deadlineMs },
      );
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

  const status: EtcdReads['status'] = async (options = {}) => {
    throwIfAborted(options.signal, 'reading status');
    const deadlineMs = connection.deadlineOf(options);
    const targets = (options.endpoints ?? connection.endpoints).map((url) =>
      normalizeEtcdUrl(url, 'endpoints'),
    );
    return Promise.all(targets.map((url) => statusOf(url, deadlineMs)));
  };

  const healthOf: EtcdReads['healthOf'] = async (member, timeoutMs) => {
    const base = { id: member.id, name: member.name, learner: member.learner };
    if (!member.started) return { ...base, healthy: false, error: 'the member has never started' };
    const url = connection.endpointFor(member);
    if (url === undefined) return { ...base, healthy: false, error: 'no reachable client URL' };
    const started = Date.now();
    try {
      await connection.call(
        url,
        'read through the member',
        // Learners refuse linearizable reads; a serializable one still proves the process serves.
        (client, within) =>
          client.kv.range({ key: Buffer.from('hacp/health'), serializable: member.learner }, within()),
        { memberId: member.id, deadlineMs: timeoutMs },
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

  const healthOfAll: EtcdReads['healthOfAll'] = (list, timeoutMs = HEALTH_TIMEOUT_MS) =>
    Promise.all(list.map((member) => healthOf(member, timeoutMs)));

  const health: EtcdReads['health'] = async (options = {}) =>
    healthOfAll(await members(options), options.timeoutMs ?? options.deadlineMs ?? HEALTH_TIMEOUT_MS);

  const currentLeader: EtcdReads['currentLeader'] = async (list, deadlineMs) => {
    const voters = list.filter((member) => member.started && !member.learner);
    const statuses = await Promise.all(
      voters.map(async (member) => {
        const url = connection.endpointFor(member);
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

  const hashKv: EtcdReads['hashKv'] = async (options = {}) => {
    const list = await members(options);
    const deadlineMs = connection.deadlineOf(options);
    const voters = list.filter((member) => member.started && !member.learner);
    // One revision for all, so the hashes are comparable even while writes go on.
    const revision =
      options.revision ??
      (
        await connection.anyEndpoint(
          'read the current revision',
          (client, within) => client.maintenance.status(within()),
          {
            deadlineMs,
          },
        )
      ).value.header.revision;
    return Promise.all(
      voters.map(async (member) => {
        const url = connection.endpointFor(member);
        if (url === undefined) throw memberUnreachable(member);
        const response = await connection.call(
          url,
          `hash the key space of ${describeMember(member)}`,
          // etcd3 1.1.2's maintenance.hashKV() calls a method that does not exist (toolchain notes §2).
          (client, within) =>
            (client.maintenance as unknown as { client: RawCallable }).client.exec(
              'Maintenance',
              'HashKV',
              { revision },
              within(),
            ) as Promise<{ header: { member_id: string }; hash: string; compact_revision: string }>,
          { memberId: member.id, deadlineMs },
        );
        return {
          endpoint: url,
          memberId: response.header.member_id,
          hash: String(response.hash),
          revision,
          compactRevision: String(response.compact_revision),
        };
      }),
    );
  };

  return { members, status, statusOf, health, healthOf, healthOfAll, currentLeader, hashKv };
}

function answeredStatus(url: string, status: IStatusResponse, alarms: string[]): EndpointStatus {
  return {
    endpoint: url,
    ok: true,
    memberId: status.header.member_id,
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
}
