import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLocalProvider, type LocalProvider } from '@hacp/provider-local';
import { expect } from 'vitest';
import { createControlPlane } from './control-plane.js';
import type { ClusterStatus, ControlPlane, ControlPlaneEvent, ControlPlaneSettings } from './types.js';

const run = promisify(execFile);

/** Runs etcdctl against `endpoints` with the cluster's health-check client certificate; its stdout. */
export async function etcdctlAt(options: {
  dataDir: string;
  endpoints: string[];
  args: string[];
}): Promise<string> {
  const pki = join(options.dataDir, 'pki', 'pki');
  const { stdout } = await run(
    'etcdctl',
    [
      `--endpoints=${options.endpoints.join(',')}`,
      `--cacert=${join(pki, 'etcd/ca.crt')}`,
      `--cert=${join(pki, 'etcd/healthcheck-client.crt')}`,
      `--key=${join(pki, 'etcd/healthcheck-client.key')}`,
      '--command-timeout=10s',
      ...options.args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' } },
  );
  return stdout.trim();
}

/**
 * The control plane with `up` making etcd-only clusters unless a test asks for Kubernetes: the
 * etcd-focused suites stay fast, and no test ever reaches for the official release location.
 */
export function etcdOnlyByDefault(controlPlane: ControlPlane): ControlPlane {
  return { ...controlPlane, up: (options) => controlPlane.up({ kubernetes: false, ...options }) };
}

/** A local provider in a fresh state folder (under the global setup's root, which reaps leftovers). */
export async function localWorld(
  options: Partial<ControlPlaneSettings> & { cluster?: string } = {},
): Promise<{
  stateDir: string;
  provider: LocalProvider;
  controlPlane: ControlPlane;
  events: ControlPlaneEvent[];
  dataDir: string;
  etcdctl(args: string[]): Promise<string>;
  cleanup(): Promise<void>;
}> {
  const stateDir = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), 'hacp-sdk-'));
  const provider = createLocalProvider({ stateDir });
  const cluster = options.cluster ?? 'kubernetes';
  const dataDir = join(stateDir, 'clusters', cluster);
  const events: ControlPlaneEvent[] = [];
  const controlPlane = etcdOnlyByDefault(
    createControlPlane({
      provider,
      dataDir,
      cluster,
      onEvent: (event) => events.push(event),
      timeouts: { drain: 200 },
      ...options,
    }),
  );
  const etcdctl = async (args: string[]) => {
    const status = await controlPlane.status();
    const address = await provider.addresses.get({ name: `${cluster}-master-ip`, region: status.region });
    return etcdctlAt({
      dataDir,
      endpoints: [`https://${address?.ip}:${2379 + (address?.portOffset ?? 0)}`],
      args,
    });
  };
  return {
    stateDir,
    provider,
    controlPlane,
    events,
    dataDir,
    etcdctl,
    cleanup: async () => {
      await controlPlane.down().catch(() => undefined);
      await controlPlane.close();
      // Whatever down could not delete (a test that broke the cluster) is stopped by pid here.
      for (const instance of await provider.instances.list({ cluster }).catch(() => [])) {
        await provider.instances
          .delete(instance, { requestId: `cleanup-${instance.name}` })
          .catch(() => undefined);
      }
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Kills every process of a local replica by its pid (its process group), as a crash would. */
export async function killReplicaProcesses(
  world: Awaited<ReturnType<typeof localWorld>>,
  replica: { name: string; zone: string },
): Promise<void> {
  for (const proc of await world.provider.processes(replica)) {
    if (proc.running && proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
  }
}

/**
 * Writes `<prefix><n>` through the cluster's endpoint in a loop (a fresh etcdctl connection each,
 * as a client reconnecting would) until stopped: what was acknowledged, and what failed.
 */
export function endpointWriter(world: Awaited<ReturnType<typeof localWorld>>, prefix: string) {
  let running = true;
  const written: string[] = [];
  const failures: string[] = [];
  const loop = (async () => {
    const { region } = await world.controlPlane.status();
    const cluster = world.controlPlane.cluster;
    const address = await world.provider.addresses.get({ name: `${cluster}-master-ip`, region });
    const endpoints = [`https://${address?.ip}:${2379 + (address?.portOffset ?? 0)}`];
    for (let i = 0; running; i++) {
      try {
        await etcdctlAt({ dataDir: world.dataDir, endpoints, args: ['put', `${prefix}${i}`, String(i)] });
        written.push(`${prefix}${i}`);
      } catch (error) {
        failures.push(String(error));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { written, failures };
    },
  };
}

/** The invariants after every step of a lifecycle: members equal replicas, all voters and healthy. */
export function membersMatchReplicas(status: ClusterStatus): {
  replicas: string[];
  members: string[];
  voters: boolean;
  healthy: boolean;
} {
  return {
    replicas: status.replicas.map((replica) => replica.name).sort(),
    members: status.etcd.members.map((member) => member.name).sort(),
    voters: status.etcd.members.every((member) => !member.learner),
    healthy: status.replicas.every((replica) => replica.state === 'healthy'),
  };
}

/**
 * Asserts those invariants with `count` replicas: each replica has its member, every member is a
 * voter, every replica is healthy. Returns the replicas' names, sorted.
 */
export function expectMembersMatchReplicas(status: ClusterStatus, count: number): string[] {
  const view = membersMatchReplicas(status);
  expect(view.members).toEqual(view.replicas);
  expect(view.replicas).toHaveLength(count);
  expect(view.voters).toBe(true);
  expect(view.healthy).toBe(true);
  return view.replicas;
}
