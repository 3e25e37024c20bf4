/**
 * What the GCE provider's tests give instances to run: the conformance kit's files and an etcd
 * process, since a GCE replica runs only programs it has a container image of (etcd and the
 * Kubernetes components, by name) and its health endpoint needs etcd's metrics listener. `etcd --version` prints and exits, so replicas
 * booted by the Compute API server's VM runtime never compete for etcd's ports. And the cluster the
 * endpoint moves are tried on.
 */
import { randomBytes } from 'node:crypto';
import type { InstanceRef, LoadBalancerSpec, MutationOptions, NodeConfig } from '@hacp/core';
import { defaultNodeConfig } from '@hacp/provider-conformance';
import type { GceProvider } from './provider.js';

export const REGION = 'europe-west1';
export const [ZONE_B, ZONE_C] = ['europe-west1-b', 'europe-west1-c'] as const;

/** A NodeConfig the startup module renders: the kit's two files and a short-lived etcd. */
export function replicaNodeConfig(instanceName: string): NodeConfig {
  return {
    files: defaultNodeConfig(instanceName).files,
    processes: [
      {
        name: 'etcd',
        command: 'etcd',
        args: ['--version', '--listen-metrics-urls=http://127.0.0.1:2381'],
        ports: { metrics: 2381 },
      },
    ],
  };
}

/** A cluster name of its own for each test. */
export const newCluster = () => `t${randomBytes(3).toString('hex')}`;

/** Request ids `<prefix>-1`, `<prefix>-2`, ... */
export const ids = (prefix: string) => {
  let n = 0;
  return (): MutationOptions => ({ requestId: `${prefix}-${++n}` });
};

/** Two replicas in two zones, the endpoint address on the first, and the load balancer it moves to. */
export interface TwoReplicas {
  cluster: string;
  first: InstanceRef;
  second: InstanceRef;
  address: { name: string; region: string };
  spec: LoadBalancerSpec;
}

/** A cluster as `up` and `replicate` leave it before the load balancer: two replicas, the address on the first. */
export async function twoReplicas(provider: GceProvider): Promise<TwoReplicas> {
  const cluster = newCluster();
  const next = ids(`${cluster}-setup`);
  const first = { name: `${cluster}-master`, zone: ZONE_B };
  const second = { name: `${cluster}-master-a1b`, zone: ZONE_C };
  const address = { name: `${cluster}-master-ip`, region: REGION };
  await provider.addresses.reserve(address, next());
  await provider.firewalls.ensure(
    { name: `${cluster}-master-etcd`, cluster, protocol: 'tcp', ports: ['2379-2381'], from: 'replicas' },
    next(),
  );
  for (const ref of [first, second]) {
    await provider.instances.create({ ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) }, next());
  }
  await provider.addresses.attach(address, first, next());
  const spec: LoadBalancerSpec = {
    name: `${cluster}-master`,
    region: REGION,
    address: address.name,
    port: 443,
    healthCheck: { protocol: 'tcp', port: 443 },
    targets: [first],
  };
  return { cluster, first, second, address, spec };
}

/** kube-up's create-loadbalancer, safely: pool and check first, then the shortest gap. */
export async function moveToLoadBalancer(
  provider: GceProvider,
  world: TwoReplicas,
  prefix: string,
): Promise<void> {
  await provider.loadBalancers.prepare(world.spec, { requestId: `${prefix}/prepare` });
  await provider.addresses.detach(world.address, { requestId: `${prefix}/detach` });
  await provider.loadBalancers.ensure(world.spec, { requestId: `${prefix}/ensure` });
}

/** kube-down at two replicas, safely: free the address, attach it to the last VM, then drop the load balancer. */
export async function moveToVm(provider: GceProvider, world: TwoReplicas, prefix: string): Promise<void> {
  const ref = { name: world.spec.name, region: REGION };
  await provider.loadBalancers.releaseAddress(ref, { requestId: `${prefix}/release` });
  await provider.addresses.attach(world.address, world.first, { requestId: `${prefix}/attach` });
  await provider.loadBalancers.delete(ref, { requestId: `${prefix}/delete` });
}
