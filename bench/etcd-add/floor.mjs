// The floor of adding an etcd member, shared by bench/etcd-add and bench/lifecycle: the hacp way
// (@hacp/etcd) and bare etcdctl commands, on a cluster started by @hacp/testkit, and the hashKv check
// that the new member holds the same data.
import { createMembershipClient } from '@hacp/etcd';

/** Promotion as hacp waits for it, with room for a large database. */
export const PROMOTE_OPTIONS = { timeoutMs: 300_000, stallAfterMs: 120_000 };
/** How often the etcdctl floor retries a refused command, and for how long. */
export const FLOOR_RETRY_MS = 100;
export const FLOOR_TIMEOUT_MS = 300_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function tlsOf(pki) {
  return { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem };
}

/** Lines of an etcd (zap) log from byte `from` on, parsed. */

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
