/**
 * The built `hacp` with `--provider gce --project <p>` against the testkit's Compute API server
 * (the real Google client on loopback; each VM booted on this machine as GCE boots it, through the
 * real startup script, running the whole control plane with real etcd and Kubernetes binaries; the
 * endpoint answered through the VM's external IP or the load balancer's data path).
 */
import { request } from 'node:https';
import { join } from 'node:path';
import { type ComputeApiServer, startComputeApiServer, testKubernetesBinaries } from '@hacp/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { hacp, ok, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

const PROJECT = 'hacp-test';

let server: ComputeApiServer | undefined;
let state: Awaited<ReturnType<typeof tempStateDir>> | undefined;
afterEach(async () => {
  await server?.close();
  await state?.remove();
  server = undefined;
  state = undefined;
});

/** Calls that change something: not reads, operation waits or health queries (POSTs that change nothing). */
const mutating = (compute: ComputeApiServer) =>
  compute.requests.filter(
    (request) =>
      request.httpMethod !== 'GET' &&
      !request.path.endsWith('/wait') &&
      request.method !== 'compute.targetPools.getHealth',
  );

interface StatusResult {
  replicas: { name: string; zone: string }[];
  etcd: { members: { name: string; learner: boolean; healthy: boolean }[] };
  endpoint: { mode: string; attachedTo?: string };
}

/** `GET /readyz` on the admin kubeconfig's server (the endpoint address) with its client certificate. */
function readyzThroughEndpoint(kubeconfig: string): Promise<string> {
  const field = (name: string) => {
    const value = new RegExp(`${name}: (\\S+)`).exec(kubeconfig)?.[1];
    if (value === undefined) throw new Error(`the kubeconfig has no ${name}`);
    return value;
  };
  const decoded = (name: string) => Buffer.from(field(name), 'base64');
  const server = new URL(field('server'));
  return new Promise((resolve) => {
    const call = request(
      {
        host: server.hostname,
        port: server.port,
        path: '/readyz',
        ca: decoded('certificate-authority-data'),
        cert: decoded('client-certificate-data'),
        key: decoded('client-key-data'),
        timeout: 10_000,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk) => {
          body += String(chunk);
        });
        response.on('end', () => resolve(`${response.statusCode} ${body}`));
      },
    );
    call.on('error', (error) => resolve(error.message));
    call.on('timeout', () => call.destroy(new Error('timed out')));
    call.end();
  });
}

const kube = await testKubernetesBinaries('latest-1.32');

describe.skipIf(kube.skip !== undefined)(
  `hacp --provider gce (Compute API test server${kube.skip === undefined ? '' : `: ${kube.skip}`})`,
  () => {
    it('runs up, replicate, status, remove and down, and refuses bad input before any API call', async () => {
      state = await tempStateDir();
      server = await startComputeApiServer({
        projects: [PROJECT],
        runtime: { dir: join(state.dir, 'compute') },
      });
      // The default mode: every replica runs kube-apiserver, the controller-manager and the scheduler.
      const env = {
        HACP_GCE_API_ENDPOINT: server.url,
        HACP_GCE_REACH: 'direct',
        HACP_KUBERNETES: undefined,
      };
      const gce = ['--provider', 'gce', '--project', PROJECT];
      const options = { stateDir: state.dir, env };

      // No project: refused by the CLI, nothing sent.
      const noProject = await hacp(['status', '--provider', 'gce', '--json'], { stateDir: state.dir, env });
      expect(noProject.code).toBe(2);
      assertEnvelope('error', noProject.json);
      expect(noProject.json).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      expect(server.requests).toHaveLength(0);

      // The retired HACP_GCE_KUBE_APISERVER: refused, pointing at --no-kubernetes; nothing sent or written.
      const before = snapshotTree(state.dir);
      const retired = await hacp(['up', ...gce, '--zone', 'europe-west1-b', '--no-kubernetes', '--json'], {
        stateDir: state.dir,
        env: { ...env, HACP_GCE_KUBE_APISERVER: 'false' },
      });
      expect(retired.code).toBe(2);
      assertEnvelope('error', retired.json);
      expect(retired.json).toMatchObject({
        error: {
          code: 'INVALID_ARGUMENT',
          actions: expect.arrayContaining([expect.stringContaining('--no-kubernetes')]),
        },
      });
      expect(server.requests).toHaveLength(0);
      expect(snapshotTree(state.dir)).toEqual(before);

      await ok(
        ['up', ...gce, '--zone', 'europe-west1-b', '--multizone', '--kubernetes-version', 'latest-1.32'],
        options,
      );
      const kubeconfig = (await hacp(['kubeconfig', ...gce], options)).stdout;
      expect(await readyzThroughEndpoint(kubeconfig)).toBe('200 ok');
      // The forwarding rule cannot be made (more 500s than the provider retries): the replicate fails
      // after its promote step, keeps its journal, and `hacp resume` finishes it once GCE answers.
      const fault = server.faults.add({
        match: { method: 'compute.forwardingRules.insert' },
        times: 20,
        effect: { kind: 'http', status: 500 },
      });
      const failed = await hacp(['replicate', ...gce, '--zone', 'europe-west1-c', '--json'], options);
      expect(failed.code, failed.stderr).toBe(1);
      expect(failed.json).toMatchObject({ error: { code: 'UNAVAILABLE' } });
      expect(fault.fired).toBeGreaterThan(1);
      fault.remove();
      const resumed = await ok<{ operation: string; resumed: boolean }>(['resume', ...gce], options);
      expect(resumed).toMatchObject({ operation: 'replicate', resumed: true });
      const status = await hacp(['status', ...gce, '--json'], options);
      expect(status.code).toBe(0);
      assertEnvelope('status', status.json);
      const two = (status.json as { result: StatusResult }).result;
      expect(two.replicas.map((replica) => replica.zone).sort()).toEqual([
        'europe-west1-b',
        'europe-west1-c',
      ]);
      expect(two.etcd.members.map((member) => member.name).sort()).toEqual(
        two.replicas.map((r) => r.name).sort(),
      );
      expect(two.etcd.members.every((member) => !member.learner && member.healthy)).toBe(true);
      expect(two.endpoint.mode).toBe('load-balanced');
      // Through the load balancer's forwarding rule now.
      expect(await readyzThroughEndpoint(kubeconfig)).toBe('200 ok');

      // A zone of another region: exit 2, the state folder and the project unchanged.
      const beforeElsewhere = snapshotTree(state.dir);
      const mutations = mutating(server).length;
      const elsewhere = await hacp(['replicate', ...gce, '--zone', 'us-central1-a', '--json'], options);
      expect(elsewhere.code).toBe(2);
      expect(elsewhere.json).toMatchObject({ error: { code: 'ZONE_NOT_IN_REGION' } });
      expect(snapshotTree(state.dir)).toEqual(beforeElsewhere);
      expect(mutating(server).length).toBe(mutations);

      await ok(['remove', ...gce, '--zone', 'europe-west1-c'], options);
      const one = await ok<StatusResult>(['status', ...gce], options);
      expect(one.replicas).toHaveLength(1);
      expect(one.endpoint).toMatchObject({ mode: 'attached', attachedTo: one.replicas[0]?.name });
      expect(await readyzThroughEndpoint(kubeconfig)).toBe('200 ok');

      await ok(['down', ...gce, '--yes'], options);
      const left = server.state()[PROJECT];
      for (const kind of [
        'instances',
        'disks',
        'addresses',
        'targetPools',
        'forwardingRules',
        'firewalls',
      ] as const) {
        expect(left?.[kind], kind).toEqual([]);
      }
      expect(server.requests.every((request) => (request.remoteAddress ?? '').startsWith('127.'))).toBe(true);
      expect(server.runtimeErrors).toEqual([]);
    }, 900_000);
  },
);
