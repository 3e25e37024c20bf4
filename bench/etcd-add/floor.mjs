// The floor of adding an etcd member, shared by bench/etcd-add and bench/lifecycle: the hacp way
// (@hacp/etcd) and bare etcdctl commands, on a cluster started by @hacp/testkit; the round around an
// add (the new member, the checks that it joined with the same data, the reset) and what both keep of it.
import { setTimeout as sleep } from 'node:timers/promises';
import { issueReplicaCerts } from '@hacp/certs';
import { createMembershipClient, hexId } from '@hacp/etcd';
import { freePorts } from '@hacp/testkit';
import { removeFolder } from '../lib/harness.mjs';
import { median, round1, spreadMs } from '../lib/report.mjs';

/** Promotion as hacp waits for it, with room for a large database. */
export const PROMOTE_OPTIONS = { timeoutMs: 300_000, stallAfterMs: 120_000 };
/** How often the etcdctl floor retries a refused command, and for how long. */
export const FLOOR_RETRY_MS = 100;
export const FLOOR_TIMEOUT_MS = 300_000;
/** etcd refuses membership changes until every voter has been connected for 5 s; wait longer than that. */
export const STABLE_MS = 5_500;
/** Where the members listen. */
export const HOST = '127.0.0.1';

export function tlsOf(pki) {
  return { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem };
}

// --- the round around an add ------------------------------------------------------------------------

/**
 * The member to add, on free ports, with its certificates issued beforehand (both sides start it with
 * the same ready-made ones, outside the timing); resolves once the cluster is healthy and etcd-1 leads.
 */
export async function memberToAdd(cluster, { name, leaderUrl }) {
  const [clientPort, peerPort] = await freePorts(2);
  const member = {
    name,
    leaderUrl,
    clientPort,
    peerPort,
    peerUrl: `https://${HOST}:${peerPort}`,
    clientUrl: `https://${HOST}:${clientPort}`,
    certs: await issueReplicaCerts(cluster.pki, { replicaName: name, hostname: name, internalIp: HOST }),
  };
  await cluster.waitHealthy();
  if ((await cluster.leader()) !== 'etcd-1') throw new Error('etcd-1 does not lead');
  return member;
}

/**
 * Equal work, outside the timing: a started voter under its name and peer URL, started with an initial
 * cluster of the leader and itself, and the same KV hash as the leader. Returns the hashes.
 */
export async function checkAdded({ cluster, admin, member, added, variant }) {
  const { name } = member;
  const expectedInitial = [`etcd-1=${cluster.member('etcd-1').peerUrl}`, `${name}=${member.peerUrl}`].sort();
  if (added.initialCluster.split(',').sort().join(',') !== expectedInitial.join(',')) {
    throw new Error(`${variant} started ${name} with --initial-cluster=${added.initialCluster}`);
  }
  const list = await admin.members();
  const joined = list.find((entry) => entry.id === added.id);
  if (
    list.length !== 2 ||
    joined === undefined ||
    joined.learner ||
    !joined.started ||
    joined.name !== name ||
    joined.peerUrls.join(',') !== member.peerUrl
  ) {
    throw new Error(`after the ${variant} add the member list is ${JSON.stringify(list)}`);
  }
  return waitForEqualHashes(admin, member.clientUrl, 2);
}

/**
 * The reset, untimed: the member removed (hacp's safe removal; etcd holds a voter's removal until it has
 * been connected for 5 s), its process killed, its data dropped.
 */
export async function removeAdded({ cluster, admin, added, name }) {
  await admin.removeMember(added.id);
  await cluster.killMember(name);
  removeFolder(cluster.member(name).dataDir);
}

/** What both benchmarks keep of one add: its times, its attempts and what etcd refused the etcdctl side. */
export function addRecord(variant, name, added) {
  return {
    variant,
    member: name,
    memberIdHex: hexId(added.id),
    totalMs: round1(added.endedAt - added.startedAt),
    addMs: round1(added.addMs),
    startMs: round1(added.startMs),
    promoteMs: round1(added.promoteMs),
    ...(added.addAttempts === undefined ? {} : { addAttempts: added.addAttempts }),
    promoteAttempts: added.promoteAttempts,
    ...(added.refusals === undefined ? {} : { etcdctlRefusals: added.refusals }),
  };
}

/** One side's adds (addRecords) over the rounds: the totals, each phase's median on its own, the attempts. */
export function addSummary(records) {
  return {
    ...spreadMs(records.map((record) => record.totalMs)),
    phasesMedianMs: {
      add: round1(median(records.map((record) => record.addMs))),
      start: round1(median(records.map((record) => record.startMs))),
      promote: round1(median(records.map((record) => record.promoteMs))),
    },
    promoteAttemptsMedian: median(records.map((record) => record.promoteAttempts)),
  };
}

// --- the two ways of adding -------------------------------------------------------------------------

/** hacp: addLearner, start the member with what it returned, promoteWhenReady; one client, as `hacp` would make. */
export async function addWithHacp(cluster, member) {
  const logged = [];
  const logger = {
    debug() {},
    info: (message, fields) => logged.push({ message, fields }),
    warn: (message, fields) => logged.push({ message, fields }),
    error: (message, fields) => logged.push({ message, fields }),
  };
  const t0 = performance.now();
  const etcd = createMembershipClient({ endpoints: [member.leaderUrl], tls: tlsOf(cluster.pki), logger });
  try {
    const added = await etcd.addLearner({ name: member.name, peerUrl: member.peerUrl });
    const t1 = performance.now();
    await cluster.spawnMember({
      name: member.name,
      certs: member.certs,
      initialCluster: added.initialCluster.split(','),
      state: added.state,
      clientPort: member.clientPort,
      peerPort: member.peerPort,
    });
    const t2 = performance.now();
    const promoted = await etcd.promoteWhenReady(added.member.id, PROMOTE_OPTIONS);
    const t3 = performance.now();
    if (promoted.learner) throw new Error(`promoteWhenReady returned ${member.name} still a learner`);
    const promoteLog = logged.find((entry) => entry.message === 'promoted etcd learner');
    return {
      id: added.member.id,
      initialCluster: added.initialCluster,
      addMs: t1 - t0,
      startMs: t2 - t1,
      promoteMs: t3 - t2,
      promoteAttempts: promoteLog?.fields?.attempts,
      startedAt: t0,
      endedAt: t3,
    };
  } finally {
    etcd.close();
  }
}

/** Runs one etcdctl command until it succeeds, `FLOOR_RETRY_MS` apart, as a script's `until` loop does. */
async function untilSucceeds(cluster, member, args, refusals) {
  const deadline = performance.now() + FLOOR_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return { output: await cluster.etcdctl(args, { endpoints: [member.leaderUrl] }), attempts: attempt };
    } catch (error) {
      const reason = (String(error.stderr ?? '').trim() || error.message).split('\n').pop();
      refusals[reason] = (refusals[reason] ?? 0) + 1;
      if (performance.now() > deadline) throw new Error(`etcdctl ${args.join(' ')} kept failing: ${reason}`);
      await sleep(FLOOR_RETRY_MS);
    }
  }
}

/**
 * The floor: `etcdctl member add <name> --peer-urls=<url> --learner`, start etcd with the
 * ETCD_INITIAL_CLUSTER it printed, then `etcdctl member promote <hex id>` every 100 ms until it
 * succeeds; each etcdctl call its own process, through the leader's endpoint.
 */
export async function addWithEtcdctl(cluster, member) {
  const refusals = {};
  const t0 = performance.now();
  const add = await untilSucceeds(
    cluster,
    member,
    ['member', 'add', member.name, `--peer-urls=${member.peerUrl}`, '--learner'],
    refusals,
  );
  const hex = /^Member\s+([0-9a-f]+) added to cluster/m.exec(add.output)?.[1];
  const initialCluster = /^ETCD_INITIAL_CLUSTER="([^"]*)"/m.exec(add.output)?.[1];
  const state = /^ETCD_INITIAL_CLUSTER_STATE="([^"]*)"/m.exec(add.output)?.[1];
  if (hex === undefined || initialCluster === undefined || state !== 'existing') {
    throw new Error(`unexpected etcdctl member add output:\n${add.output}`);
  }
  const t1 = performance.now();
  await cluster.spawnMember({
    name: member.name,
    certs: member.certs,
    initialCluster: initialCluster.split(','),
    state,
    clientPort: member.clientPort,
    peerPort: member.peerPort,
  });
  const t2 = performance.now();
  const promote = await untilSucceeds(cluster, member, ['member', 'promote', hex], refusals);
  const t3 = performance.now();
  if (!/promoted in cluster/.test(promote.output)) {
    throw new Error(`unexpected etcdctl member promote output:\n${promote.output}`);
  }
  return {
    id: BigInt(`0x${hex}`).toString(),
    initialCluster,
    addMs: t1 - t0,
    addAttempts: add.attempts,
    startMs: t2 - t1,
    promoteMs: t3 - t2,
    promoteAttempts: promote.attempts,
    refusals,
    startedAt: t0,
    endedAt: t3,
  };
}

/** Waits until every voter answers hashKv at one revision, and checks the hashes are equal. */
export async function waitForEqualHashes(admin, newUrl, expected) {
  for (let waited = 0; ; waited += 200) {
    try {
      const hashes = await admin.hashKv();
      const mine = hashes.find((entry) => entry.endpoint === newUrl);
      if (hashes.length === expected && mine !== undefined) {
        if (new Set(hashes.map((entry) => entry.hash)).size !== 1) {
          throw Object.assign(new Error(`KV hashes differ: ${JSON.stringify(hashes)}`), { final: true });
        }
        return hashes;
      }
      if (waited > 60_000) throw new Error(`hashKv answered for ${hashes.length} voters, not ${expected}`);
    } catch (error) {
      // The new member may not have applied the revision yet ("required revision is a future revision").
      if (error.final || waited > 60_000) throw error;
    }
    await sleep(200);
  }
}
