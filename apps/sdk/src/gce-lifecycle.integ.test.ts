/**
 * The SDK's lifecycle on the GCE provider against the Compute API test server (gce.test-support.ts):
 * the default mode with the API checked through the endpoint at each step, a replica whose control
 * plane cannot start, the etcd-only lifecycle and the refusals made before any API call.
 */
import { type HacpError, isHacpError } from '@hacp/core';
import { createGceProvider } from '@hacp/provider-gce';
import { testKubernetesBinaries } from '@hacp/testkit';
import { describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import {
  CLUSTER,
  expectConsistent,
  mutating,
  NOTHING,
  PROJECT,
  resources,
  useGceWorlds,
  ZONES,
} from './gce.test-support.js';
import { kubeApi, readyz } from './kubernetes.test-support.js';

const worlds = useGceWorlds();

const kube = await testKubernetesBinaries('latest-1.32');

/** The Kubernetes API through the endpoint address, whatever holds it: the VM's NAT IP or the load balancer. */
async function expectApiThroughEndpoint(kubeconfig: string | undefined, leases: Set<string>): Promise<void> {
  expect(kubeconfig).toBeDefined();
  const api = kubeApi(kubeconfig as string);
  expect(await readyz(api.config)).toBe('ok');
  // A write and a read through the endpoint: the lease of this step.
  const name = `step-${leases.size}`;
  await api.coordination.createNamespacedLease({
    namespace: 'default',
    body: { metadata: { name }, spec: { holderIdentity: 'gce-lifecycle-test' } },
  });
  leases.add(name);
  const listed = await api.coordination.listNamespacedLease({ namespace: 'default' });
  expect(
    new Set(listed.items.map((lease) => lease.metadata?.name).filter((n) => n?.startsWith('step-'))),
  ).toEqual(leases);
}

describe.skipIf(kube.skip !== undefined)(
  `the SDK on the GCE provider, default mode (${kube.skip ?? `Kubernetes ${kube.binaries?.version}`})`,
  () => {
    it('grows 1→3 across three zones and back to 1, the API answering through the endpoint at each step', async () => {
      const w = await worlds.create({ kubernetes: true });
      const leases = new Set<string>();
      const up = await w.controlPlane.up({
        zone: ZONES[0],
        multizone: true,
        kubernetesVersion: 'latest-1.32',
      });
      expect(up.kubernetesVersion).toBe(kube.binaries?.version);
      await expectConsistent(w, 1);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      expect(resources(w.server).addresses).toContain(`${CLUSTER}-master-ip`);

      await w.controlPlane.replicate({ zone: ZONES[1] });
      await expectConsistent(w, 2);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      await w.controlPlane.replicate({ zone: ZONES[2] });
      const three = await expectConsistent(w, 3);
      expect(new Set(three.replicas.map((replica) => replica.zone))).toEqual(new Set(ZONES));
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      // Every replica runs the whole control plane, each static pod started by the kubelet stand-in.
      for (const replica of three.replicas) {
        const pods = (w.server.runtime?.podStatus(replica.name, replica.zone) ?? { pods: [] }) as {
          pods: { name: string; containers: { state: string; ready: boolean }[] }[];
        };
        expect(pods.pods.map((pod) => pod.name).sort(), replica.name).toEqual(
          [
            'etcd',
            'hacp-health',
            'kube-addon-manager',
            'kube-apiserver',
            'kube-controller-manager',
            'kube-scheduler',
          ].map((name) => expect.stringContaining(name)),
        );
        expect(pods.pods.flatMap((pod) => pod.containers.map((c) => c.state))).not.toContain('waiting');
        // Its boot ended when its health endpoint answered, which wait-healthy waited for.
        expect(w.server.runtime?.serialOutput(replica.name, replica.zone)).toContain(
          'hacp-startup: the health endpoint answers',
        );
      }

      await w.controlPlane.remove({ zone: ZONES[2] });
      await expectConsistent(w, 2);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      await w.controlPlane.remove({ zone: ZONES[1] });
      await expectConsistent(w, 1);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      expect(resources(w.server).httpHealthChecks).toEqual([]);

      // Every mutating call carried a GCE request id (a UUID), and the API was called on loopback only.
      for (const request of mutating(w.server)) {
        expect(request.requestId, `${request.httpMethod} ${request.path}`).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        );
      }
      expect(w.server.requests.every((request) => (request.remoteAddress ?? '').startsWith('127.'))).toBe(
        true,
      );
      expect(w.server.runtimeErrors).toEqual([]);

      await w.controlPlane.down();
      expect(resources(w.server)).toEqual(NOTHING);
    }, 600_000);
  },
);

describe('the SDK on the GCE provider, a replica whose control plane cannot start', () => {
  it('up does not finish while kube-apiserver cannot start (its image cannot be pulled), and says which', async () => {
    // v1.31.2's images are not on this machine: the kubelet reports ErrImagePull for the three Kubernetes
    // pods. The wait is long enough for etcd to come up on a busy machine, so it is kube-apiserver's that ends.
    const w = await worlds.create({ kubernetes: true, healthyMs: 60_000 });
    const error = await w.controlPlane
      .up({ zone: ZONES[0], multizone: true, kubernetesVersion: 'v1.31.2' })
      .catch((caught: unknown) => caught);
    expect(isHacpError(error, 'TIMEOUT')).toBe(true);
    expect((error as Error).message).toMatch(/kube-apiserver/);
    // The kubelet saw why: the pod's image could not be pulled.
    const [replica] = resources(w.server).instances;
    const pods = w.server.runtime?.podStatus(String(replica), ZONES[0]) as {
      pods: { name: string; containers: { reason?: string }[] }[];
    };
    const apiserver = pods.pods.find((pod) => pod.name.includes('kube-apiserver'));
    expect(apiserver?.containers[0]?.reason).toBe('ErrImagePull');
  }, 180_000);
});

describe('the SDK on the GCE provider, a replica whose startup script fails', () => {
  it("up fails as soon as the startup script does, with the provider's error quoting the script's error line", async () => {
    // kube-apiserver cannot start (v1.31.2's images are not on this machine), so the health endpoint
    // never answers, and the script gives up after 15 s: long before timeouts.healthy and memberStart.
    const w = await worlds.create({
      kubernetes: true,
      healthyMs: 300_000,
      startupEnv: { HACP_HEALTH_WAIT_SECONDS: '15' },
    });
    const started = Date.now();
    const error = await w.controlPlane
      .up({ zone: ZONES[0], multizone: true, kubernetesVersion: 'v1.31.2' })
      .catch((caught: unknown) => caught);
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(isHacpError(error, 'UNAVAILABLE')).toBe(true);
    const [replica] = resources(w.server).instances;
    expect((error as Error).message).toBe(
      `up stopped at "Wait until ${replica} is healthy": ${replica}'s startup script failed: hacp-startup: error: the health endpoint did not answer within 15 s`,
    );
    expect((error as HacpError).actions.join('\n')).toContain(
      `gcloud compute instances get-serial-port-output ${replica} --zone ${ZONES[0]}`,
    );
    // What a failed up leaves: its replica and address stay for a resumed up, and the console says why.
    expect(resources(w.server).instances).toEqual([`${CLUSTER}-master`]);
    expect(resources(w.server).addresses).toContain(`${CLUSTER}-master-ip`);
    expect(w.server.runtime?.serialOutput(String(replica), ZONES[0])).toContain(
      'startup-script exit status 1',
    );
  }, 180_000);
});

describe('the SDK on the GCE provider (Compute API test server, etcd-only replicas)', () => {
  it('grows 1→3 and back to 1 keeping the data in etcd', async () => {
    const w = await worlds.create();
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    await expectConsistent(w, 1);
    await w.etcdctl(['put', 'hacp/one', '1']);
    await w.controlPlane.replicate({ zone: ZONES[1] });
    await expectConsistent(w, 2);
    await w.etcdctl(['put', 'hacp/two', '2']);
    await w.controlPlane.replicate({ zone: ZONES[2] });
    await expectConsistent(w, 3);
    expect(resources(w.server).httpHealthChecks).toEqual([`${CLUSTER}-master-hc`]);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/one'])).toBe('1');
    await w.controlPlane.remove({ zone: ZONES[2] });
    await w.controlPlane.remove({ zone: ZONES[1] });
    await expectConsistent(w, 1);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/two'])).toBe('2');
    await w.controlPlane.down();
    expect(resources(w.server)).toEqual(NOTHING);
  }, 300_000);

  it('replace --keep-data migrates a replica onto its kept PD: the same member id and data', async () => {
    const w = await worlds.create();
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    await w.controlPlane.replicate({ zone: ZONES[1] });
    await w.controlPlane.replicate({ zone: ZONES[2] });
    await w.etcdctl(['put', 'hacp/before', 'kept']);
    const before = await expectConsistent(w, 3);
    const victim = before.replicas.find((r) => r.zone === ZONES[1]);
    if (victim === undefined) throw new Error(`no replica in ${ZONES[1]}`);
    const memberId = before.etcd.members.find((m) => m.name === victim.name)?.id;

    const result = await w.controlPlane.replace({ name: victim.name, keepData: true });
    expect(result.steps.map((s) => s.id)).toContain(`migrate-member:${victim.name}`);
    const after = await expectConsistent(w, 3);
    expect(after.replicas.map((r) => r.name).sort()).toEqual(before.replicas.map((r) => r.name).sort());
    expect(after.etcd.members.find((m) => m.name === victim.name)?.id).toBe(memberId);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
    // The new VM's startup script took the PD over, data included, rather than moving it aside.
    expect(w.server.runtime?.serialOutput(victim.name, ZONES[1])).toContain('handed over to this one');
    await w.controlPlane.down();
    expect(resources(w.server)).toEqual(NOTHING);
  }, 300_000);

  it('refuses a zone in another region before any mutating API call', async () => {
    const w = await worlds.create();
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    const before = mutating(w.server).length;
    const stateBefore = JSON.stringify(w.server.state());
    const error = await w.controlPlane
      .replicate({ zone: 'us-central1-a' })
      .catch((caught: unknown) => caught);
    expect(isHacpError(error, 'ZONE_NOT_IN_REGION')).toBe(true);
    expect(mutating(w.server).length).toBe(before);
    expect(JSON.stringify(w.server.state())).toBe(stateBefore);
  }, 120_000);

  it('says why it cannot reach etcd (no gcloud for the IAP tunnel) instead of calling replicas unhealthy', async () => {
    const w = await worlds.create();
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    const throughIap = createGceProvider({
      project: PROJECT,
      region: 'europe-west1',
      apiEndpoint: w.server.url,
      reach: 'iap',
      gcloud: '/nonexistent/hacp-test/gcloud',
    });
    const operator = createControlPlane({ provider: throughIap, cluster: CLUSTER, dataDir: w.dataDir });
    try {
      const error = await operator.status().catch((caught: unknown) => caught);
      expect(isHacpError(error, 'DEPENDENCY_MISSING')).toBe(true);
      expect((error as Error).message).toMatch(/cannot reach etcd on any replica/);
      expect((error as { actions: string[] }).actions.join(' ')).toMatch(/gcloud/);
    } finally {
      await operator.close();
      await throughIap.close();
    }
    // The cluster itself is fine.
    await expectConsistent(w, 1);
  }, 120_000);
});
