import { readdir, rm } from 'node:fs/promises';
import { assertClusterName, isReplicaName } from '../domain.js';
import type { FirewallRule, MutationOptions, ProviderV1 } from '../provider.js';
import { throwIfAborted } from '../provider-input.js';
import type { InstanceRecord, NetworkRecord, ProcessCloud } from './cloud.js';
import type { ProcessInstanceApi } from './instances.js';

/**
 * `deleteLeftovers` of a process cloud: every instance recorded for the cluster (its processes
 * stopped, its folder and network place freed), every network place allocated to it (an instance
 * deleted by hand, or never made), every firewall rule recorded for it, and every replica folder
 * named as the cluster's replicas that no instance or network place of any cluster holds.
 */
export function createProcessLeftovers(
  cloud: ProcessCloud,
  parts: { instances: ProcessInstanceApi; firewalls: ProviderV1['firewalls'] },
): NonNullable<ProviderV1['deleteLeftovers']> {
  return async (filter, options: MutationOptions) => {
    throwIfAborted(options.signal);
    assertClusterName(filter.cluster);
    const { cluster } = filter;
    const deleted: string[] = [];
    const instances = await cloud.files.readFolder<InstanceRecord>(cloud.paths.instances);
    for (const record of instances.filter((r) => r.cluster === cluster)) {
      await parts.instances.delete({ name: record.name, zone: record.zone }, options);
      deleted.push(`instances/${record.name}`);
    }
    const networks = await cloud.files.readFolder<NetworkRecord>(cloud.paths.networks);
    const named = new Set([...instances, ...networks].map((record) => record.name));
    for (const network of networks.filter((n) => n.cluster === cluster)) {
      if (instances.some((r) => r.name === network.name && r.cluster === cluster)) continue;
      // Deleting an instance that is not there frees its network place and its folder.
      await parts.instances.delete({ name: network.name, zone: network.zone }, options);
      deleted.push(`networks/${network.name}`);
    }
    const folders = await readdir(cloud.paths.replicas).catch(() => [] as string[]);
    for (const name of folders.filter((n) => isReplicaName(cluster, n) && !named.has(n))) {
      await rm(cloud.instancePaths(name).dir, { recursive: true, force: true });
      deleted.push(`replicas/${name}`);
    }
    const firewalls = await cloud.files.readFolder<{ rule: FirewallRule }>(cloud.paths.firewalls);
    for (const { rule } of firewalls.filter((r) => r.rule?.cluster === cluster)) {
      await parts.firewalls.delete(rule.name, options);
      deleted.push(`firewalls/${rule.name}`);
    }
    if (deleted.length > 0) cloud.logger.info('deleted what was left of the cluster', { cluster, deleted });
    return deleted.sort();
  };
}
