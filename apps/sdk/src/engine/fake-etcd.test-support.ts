/**
 * A fake etcd behind the membership port, for the engine's unit tests: it keeps a member list with
 * etcd's rules (one learner at a time, unstarted members, quorum for every change) and reads which
 * members run from the provider's instances, so a replica created by a step starts its member. It
 * records every call and can fail any of them (Cluster API's fakeWorkloadCluster).
 */
import { writeFile } from 'node:fs/promises';
import { ErrorCode, HacpError, type Instance, type ProviderV1, quorumOf } from '@hacp/core';
import { type EtcdMember, learnerClock, type PromoteOptions } from '@hacp/etcd';
import { REPLICA_PORTS } from '../render.js';
import type { EtcdConnector, EtcdMembership, EtcdPort } from './etcd-port.js';

export type FakeEtcdMethod = keyof EtcdMembership | 'snapshot' | 'connect';

export interface FakeEtcdCall {
  method: FakeEtcdMethod;
  /** The member id or name the call was about, where it has one. */
  subject?: string;
}

interface Fault {
  method: FakeEtcdMethod;
  /** Fail the call with this index among calls of the method (0: the next one). */
  nth: number;
  error: Error;
}

/**
 * How a learner's process comes up once its instance runs: at once (the default), `startsAfterMs`
 * after its instance was created (a slow boot), `never`, or `stalls` (it starts, then never catches up).
 */
export type LearnerStart = { startsAfterMs: number } | 'never' | 'stalls';

interface FakeMember {
  id: string;
  name: string;
  peerUrl: string;
  learner: boolean;
  /** Its data went with its instance's disk (see `diskWiped`): it never runs again. */
  lost?: boolean;
  start?: LearnerStart;
}

const peerUrlOf = (instance: Instance) =>
  `https://${instance.internalIp}:${REPLICA_PORTS.etcdPeer + (instance.portOffset ?? 0)}`;

/** A fake etcd cluster over a provider's instances. */
export class FakeEtcd {
  readonly calls: FakeEtcdCall[] = [];
  /** Open connections (a test checks every one is closed). */
  openPorts = 0;
  private members: FakeMember[] = [];
  private leaderId: string | undefined;
  private nextId = 1;
  private faults: Fault[] = [];
  private counts = new Map<FakeEtcdMethod, number>();
  private holds = new Map<FakeEtcdMethod, Promise<void>>();
  private nextLearnerStart: LearnerStart | undefined;

  constructor(
    private readonly provider: ProviderV1,
    private readonly cluster: string,
  ) {}

  /** The connector to give `createControlPlane({ etcd })`. */
  readonly connector: EtcdConnector = async (options) => {
    this.record('connect');
    const reached = options.instances.filter((instance) => instance.status === 'running').map((i) => i.name);
    if (reached.length === 0) return undefined;
    this.openPorts += 1;
    let open = true;
    const port: EtcdPort = {
      reached,
      members: async () => this.call('members', undefined, async () => (await this.list()).map(toMember)),
      status: async () => this.call('status', undefined, () => this.statuses()),
      health: async () => this.call('health', undefined, () => this.health()),
      addLearner: async (o) => this.call('addLearner', o.name, () => this.addLearner(o.name, o.peerUrl)),
      promoteWhenReady: async (id, o) => this.call('promoteWhenReady', id, () => this.promote(id, o)),
      removeMember: async (id) => this.call('removeMember', id, () => this.remove(id)),
      moveLeaderAway: async (id) => this.call('moveLeaderAway', id, () => this.moveLeaderAway(id)),
      migrateMember: async (id, url) => this.call('migrateMember', id, () => this.migrate(id, url)),
      snapshot: async (file, o) => this.call('snapshot', file, () => this.snapshot(file, o?.replica)),
      close: async () => {
        if (open) this.openPorts -= 1;
        open = false;
      },
    };
    return port;
  };

  /** Fails the `nth` next call of `method` (0: the very next) with `error`. */
  failOn(method: FakeEtcdMethod, options: { nth?: number; error?: Error } = {}): void {
    const nth = (this.counts.get(method) ?? 0) + (options.nth ?? 0);
    const error =
      options.error ??
      new HacpError({ code: ErrorCode.UNAVAILABLE, message: `fake etcd: ${method} failed`, retryable: true });
    this.faults.push({ method, nth, error });
  }

  /** The next learner added comes up as `start` says (see `LearnerStart`). */
  learnerStarts(start: LearnerStart): void {
    this.nextLearnerStart = start;
  }

  /**
   * `replica`'s instance was made afresh, with an empty disk: a member that has started there lost
   * its data and never runs again, as etcd panics when the leader's commit index is beyond its
   * empty log. A member that never started is not affected.
   */
  diskWiped(replica: string): void {
    for (const member of this.members) if (member.name === replica) member.lost = true;
  }

  /**
   * `replica`'s etcd started with --force-new-cluster on its data: it is the only member now, with
   * its id and data (the others are forgotten), and it leads.
   */
  forceNewCluster(replica: string): void {
    const survivor = this.members.find((member) => member.name === replica && !member.lost);
    if (survivor === undefined) return;
    this.members = [{ ...survivor, learner: false }];
    this.leaderId = survivor.id;
  }

  /** How many calls of `method` were made. */
  count(method: FakeEtcdMethod): number {
    return this.counts.get(method) ?? 0;
  }

  /** The member list now, as etcd would show it. */
  async snapshotMembers(): Promise<EtcdMember[]> {
    return (await this.list()).map(toMember);
  }

  /** The names of the members that do not run (their instance is gone or stopped, or their data lost). */
  async downMembers(): Promise<string[]> {
    return (await this.list()).filter((member) => !member.running).map((member) => member.name || member.id);
  }

  private record(method: FakeEtcdMethod, subject?: string): void {
    this.calls.push({ method, ...(subject === undefined ? {} : { subject }) });
    const index = this.counts.get(method) ?? 0;
    this.counts.set(method, index + 1);
    const fault = this.faults.find((f) => f.method === method && f.nth === index);
    if (fault !== undefined) {
      this.faults = this.faults.filter((f) => f !== fault);
      throw fault.error;
    }
  }

  /** Holds every call of `method` until the returned function is called (a member that answers late). */
  holdOn(method: FakeEtcdMethod): () => void {
    let release = () => {};
    this.holds.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.holds.delete(method);
      release();
    };
  }

  private async call<T>(
    method: FakeEtcdMethod,
    subject: string | undefined,
    work: () => Promise<T> | T,
  ): Promise<T> {
    this.record(method, subject);
    await this.holds.get(method);
    return work();
  }

  private async running(): Promise<Instance[]> {
    const instances = await this.provider.instances.list({ cluster: this.cluster });
    // No member has an instance any more: the data went with their disks (a new `up` starts anew).
    const peerUrls = new Set(instances.map(peerUrlOf));
    if (!this.members.some((member) => peerUrls.has(member.peerUrl))) {
      this.members = [];
      this.leaderId = undefined;
    }
    return instances.filter((instance) => instance.status === 'running');
  }

  /** The members with who runs: a running instance with a member's peer URL starts it. */
  private async list(): Promise<(FakeMember & { started: boolean; running: boolean })[]> {
    const running = await this.running();
    if (this.members.length === 0 && running[0] !== undefined) {
      // The first replica's etcd starts a new cluster.
      const first = running[0];
      this.members.push({
        id: String(this.nextId++),
        name: first.name,
        peerUrl: peerUrlOf(first),
        learner: false,
      });
      this.leaderId = this.members[0]?.id;
    }
    return this.members.map((member) => {
      const instance = running.find((i) => peerUrlOf(i) === member.peerUrl);
      if (instance !== undefined && member.name === '' && startsNow(member, instance))
        member.name = instance.name;
      return { ...member, started: member.name !== '', running: instance !== undefined && !member.lost };
    });
  }

  private async quorate(): Promise<boolean> {
    const members = await this.list();
    const voters = members.filter((m) => !m.learner);
    return voters.length > 0 && voters.filter((m) => m.running).length >= quorumOf(voters.length);
  }

  private async health() {
    const quorate = await this.quorate();
    return (await this.list()).map((m) => ({
      id: m.id,
      name: m.name,
      learner: m.learner,
      healthy: quorate && m.running,
    }));
  }

  private async statuses() {
    const members = await this.list();
    return members
      .filter((m) => m.running)
      .map((m) => ({
        endpoint: m.peerUrl,
        ok: true,
        memberId: m.id,
        ...(this.leaderId === undefined ? {} : { leaderId: this.leaderId }),
        alarms: [],
        errors: [],
      }));
  }

  private async addLearner(name: string, peerUrl: string) {
    const members = await this.list();
    if (members.some((m) => m.learner)) {
      throw new HacpError({
        code: ErrorCode.LEARNER_PRESENT,
        message: 'fake etcd: a learner exists already',
      });
    }
    if (!(await this.quorate()) || members.some((m) => !m.learner && !m.running)) {
      throw new HacpError({ code: ErrorCode.QUORUM_AT_RISK, message: 'fake etcd: a voter is not healthy' });
    }
    const member: FakeMember = { id: String(this.nextId++), name: '', peerUrl, learner: true };
    if (this.nextLearnerStart !== undefined) member.start = this.nextLearnerStart;
    this.nextLearnerStart = undefined;
    this.members.push(member);
    const listed = await this.list();
    const initialCluster = listed.map((m) => `${m.name || name}=${m.peerUrl}`).join(',');
    return {
      member: toMember({ ...member, started: false }),
      initialCluster,
      state: 'existing' as const,
      through: 'fake',
    };
  }

  /** As `@hacp/etcd` does, with its clocks: the start bound until a sign of life, then the stall bound. */
  private async promote(id: string, options: PromoteOptions = {}) {
    const clock = learnerClock({
      memberStartTimeoutMs: options.memberStartTimeoutMs ?? 600_000,
      stallAfterMs: options.stallAfterMs ?? 60_000,
      timeoutMs: options.timeoutMs ?? 1000,
    });
    for (;;) {
      const member = (await this.list()).find((m) => m.id === id);
      if (member === undefined) {
        throw new HacpError({ code: ErrorCode.LEARNER_STALLED, message: `fake etcd: learner ${id} is gone` });
      }
      if (!member.learner) return toMember(member);
      const catchesUp = member.running && member.started && member.start !== 'stalls';
      if (catchesUp && (await this.quorate())) {
        const stored = this.members.find((m) => m.id === id);
        if (stored !== undefined) stored.learner = false;
        return toMember({ ...member, learner: false });
      }
      if (options.signal?.aborted)
        throw new HacpError({ code: ErrorCode.ABORTED, message: 'fake etcd: aborted' });
      const verdict = clock.observe({ alive: member.running && member.started, progressed: catchesUp });
      if (verdict.state === 'not-started' || verdict.state === 'stalled') {
        this.members = this.members.filter((m) => m.id !== id);
        throw new HacpError({
          code: verdict.state === 'stalled' ? ErrorCode.LEARNER_STALLED : ErrorCode.MEMBER_NOT_STARTED,
          message: `fake etcd: learner ${id} ${verdict.state === 'stalled' ? 'stalled' : 'never started'}; it was removed.`,
          actions: ['Look at the machine.'],
        });
      }
      if (verdict.state === 'timed-out') {
        throw new HacpError({
          code: ErrorCode.TIMEOUT,
          message: `fake etcd: learner ${id} did not catch up`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private async remove(id: string) {
    const members = await this.list();
    const member = members.find((m) => m.id === id);
    if (member === undefined)
      throw new HacpError({ code: ErrorCode.NOT_FOUND, message: `fake etcd: no member ${id}` });
    const voters = members.filter((m) => !m.learner && m.id !== id);
    if (
      !member.learner &&
      (voters.length === 0 || voters.filter((m) => m.running).length < quorumOf(voters.length))
    ) {
      throw new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `fake etcd: removing ${id} loses quorum`,
      });
    }
    this.members = this.members.filter((m) => m.id !== id);
    if (this.leaderId === id) this.leaderId = this.members.find((m) => !m.learner)?.id;
    return { removed: toMember(member), through: 'fake' };
  }

  private async moveLeaderAway(id: string) {
    const from = this.leaderId ?? '';
    if (this.leaderId !== id) return { moved: false, from, to: from };
    const members = await this.list();
    const to = members.find((m) => !m.learner && m.running && m.id !== id);
    if (to === undefined)
      throw new HacpError({ code: ErrorCode.QUORUM_AT_RISK, message: 'fake etcd: no voter to lead' });
    this.leaderId = to.id;
    return { moved: true, from, to: to.id };
  }

  private async migrate(id: string, peerUrl: string) {
    const stored = this.members.find((m) => m.id === id);
    if (stored === undefined)
      throw new HacpError({ code: ErrorCode.NOT_FOUND, message: `fake etcd: no member ${id}` });
    stored.peerUrl = peerUrl;
    const member = (await this.list()).find((m) => m.id === id);
    return {
      member: toMember(member ?? { ...stored, started: true }),
      initialCluster: '',
      state: 'existing' as const,
      through: 'fake',
    };
  }

  /** A snapshot through a healthy voter, or of one running member's own data (no quorum needed). */
  private async snapshot(file: string, replica?: string) {
    const from = replica === undefined ? undefined : (await this.list()).find((m) => m.name === replica);
    if (replica !== undefined ? from?.running !== true : !(await this.quorate()))
      throw new HacpError({ code: ErrorCode.UNAVAILABLE, message: 'fake etcd: no quorum' });
    await writeFile(file, 'fake etcd snapshot\n', { mode: 0o600 });
    return {
      file,
      sizeBytes: 19,
      sha256: '',
      memberId: from?.id ?? this.leaderId ?? '',
      revision: '1',
      clusterId: '4242',
    };
  }
}

/** Whether a learner's process has come up on its running instance (see `LearnerStart`). */
function startsNow(member: FakeMember, instance: Instance): boolean {
  if (member.start === undefined || member.start === 'stalls') return true;
  if (member.start === 'never') return false;
  return Date.now() - instance.createdAt.getTime() >= member.start.startsAfterMs;
}

function toMember(member: FakeMember & { started: boolean }): EtcdMember {
  return {
    id: member.id,
    name: member.name,
    peerUrls: [member.peerUrl],
    clientUrls: member.started ? [member.peerUrl.replace(/:\d+$/, `:${REPLICA_PORTS.etcdClient}`)] : [],
    learner: member.learner,
    started: member.started,
  };
}
