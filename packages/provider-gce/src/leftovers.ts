/**
 * What is left of a cluster after `down` deleted what its record names: everything that carries
 * the cluster's label (instances, data disks, internal addresses), and everything named as kube-up
 * names the cluster's resources (the forwarding rule and target pool `<cluster>-master`, its health
 * check and firewall, the firewall rules, the endpoint address `<cluster>-master-ip`, a replica's
 * `<vm>-pd` and `<vm>-internal`). Names are matched whole, and a resource labelled for another
 * cluster is that cluster's whatever its name.
 */
import {
  assertClusterName,
  assertRegionName,
  type MutationOptions,
  regionOfZone,
  throwIfAborted,
} from '@hacp/core';
import { NO_GAX_RETRY, PAGED_NO_GAX_RETRY } from './compute.js';
import type { GceContext } from './context.js';
import type { GceFirewalls } from './firewalls.js';
import type { GceInstances } from './instances.js';
import { CLUSTER_LABEL, derivedName, masterTag } from './names.js';

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The names kube-up (and this provider) give a cluster's resources, each matched whole. */
export function clusterNamePatterns(cluster: string) {
  const master = escaped(masterTag(cluster));
  const replica = `${master}(?:-[0-9a-f]{3})?`;
  return {
    /** A replica's data disk. */
    disk: new RegExp(`^${replica}-pd$`),
    /** A replica's internal address, or the endpoint address. */
    address: new RegExp(`^(?:${replica}-internal|${master}-ip)$`),
    /** The replicas-only and API rules, their IAP companions, and the load balancer's health rule. */
    firewall: new RegExp(`^${master}-(?:(?:etcd|https)(?:-iap)?|health)$`),
  };
}

/** `deleteLeftovers` of the GCE provider. */
export function createGceLeftovers(
  context: GceContext,
  parts: {
    instances: GceInstances;
    firewalls: GceFirewalls;
    deleteLoadBalancer(ref: { name: string; region: string }, options: MutationOptions): Promise<void>;
  },
) {
  const { session, settings, logger } = context;
  const project = settings.project;

  /** Each name the listing gives that `keep` accepts. */
  async function listNames(
    call: string,
    signal: AbortSignal | undefined,
    pages: () => AsyncIterable<{ name?: string | null; labels?: Record<string, string> | null }>,
    keep: (item: { name: string; labels: Record<string, string> }) => boolean,
  ): Promise<string[]> {
    return session.read({ call, signal }, async () => {
      const names: string[] = [];
      for await (const item of pages()) {
        const name = item.name ?? '';
        if (name !== '' && keep({ name, labels: { ...(item.labels ?? {}) } })) names.push(name);
      }
      return names;
    });
  }

  return async function deleteLeftovers(
    filter: { cluster: string; region: string },
    options: MutationOptions,
  ): Promise<string[]> {
    assertClusterName(filter.cluster);
    assertRegionName(filter.region);
    throwIfAborted(options.signal);
    const { cluster, region } = filter;
    const { signal } = options;
    const names = clusterNamePatterns(cluster);
    // The label decides where there is one (a name of ours may be another cluster's, labelled so).
    const ours = (item: { name: string; labels: Record<string, string> }, pattern: RegExp) => {
      const owner = item.labels[CLUSTER_LABEL];
      return owner === undefined ? pattern.test(item.name) : owner === cluster;
    };
    const deleted: string[] = [];

    // The load balancer first (its rule uses the address): rule, pool, check and health firewall.
    const lb = { name: masterTag(cluster), region };
    const [rule, pool, check] = await Promise.all([
      session.find({ call: `get forwardingRule ${lb.name}`, signal, region }, () =>
        session.clients().forwardingRules.get({ project, region, forwardingRule: lb.name }, NO_GAX_RETRY),
      ),
      session.find({ call: `get targetPool ${lb.name}`, signal, region }, () =>
        session.clients().targetPools.get({ project, region, targetPool: lb.name }, NO_GAX_RETRY),
      ),
      session.httpHealthChecks.get(derivedName.healthCheck(lb.name), { signal }),
    ]);
    await parts.deleteLoadBalancer(lb, options);
    if (rule !== undefined) deleted.push(`forwardingRules/${lb.name}`);
    if (pool !== undefined) deleted.push(`targetPools/${lb.name}`);
    if (check !== undefined) deleted.push(`httpHealthChecks/${derivedName.healthCheck(lb.name)}`);

    const firewallNames = await listNames(
      `list firewalls projects/${project}`,
      signal,
      () => session.clients().firewalls.listAsync({ project }, PAGED_NO_GAX_RETRY),
      (item) => names.firewall.test(item.name),
    );
    for (const name of firewallNames) {
      await parts.firewalls.deleteRule(name, options);
      deleted.push(`firewalls/${name}`);
    }

    // Instances with the label (each with its disk and internal address), then what they left.
    for (const instance of await parts.instances.api.list({ cluster }, { signal })) {
      if (regionOfZone(instance.zone) !== region) continue;
      await parts.instances.api.delete({ name: instance.name, zone: instance.zone }, options);
      deleted.push(`instances/${instance.name}`);
    }
    const zones = (await context.zones.list(signal)).filter((zone) => zone.region === region);
    for (const zone of zones) {
      const disks = await listNames(
        `list disks zones/${zone.name}`,
        signal,
        () => session.clients().disks.listAsync({ project, zone: zone.name }, PAGED_NO_GAX_RETRY),
        (item) => ours(item, names.disk),
      );
      for (const disk of disks) {
        await session.mutateIfFound(
          context.mutation(
            `delete leftover disk zones/${zone.name}/disks/${disk}`,
            { zone: zone.name },
            options,
          ),
          (requestId) =>
            session.clients().disks.delete({ project, zone: zone.name, disk, requestId }, NO_GAX_RETRY),
        );
        deleted.push(`disks/${disk}`);
      }
    }
    const addresses = await listNames(
      `list addresses regions/${region}`,
      signal,
      () => session.clients().addresses.listAsync({ project, region }, PAGED_NO_GAX_RETRY),
      (item) => ours(item, names.address),
    );
    for (const address of addresses) {
      await session.mutateIfFound(
        context.mutation(
          `delete leftover address regions/${region}/addresses/${address}`,
          { region },
          options,
        ),
        (requestId) =>
          session.clients().addresses.delete({ project, region, address, requestId }, NO_GAX_RETRY),
      );
      deleted.push(`addresses/${address}`);
    }
    if (deleted.length > 0) logger.info('deleted what was left of the cluster', { cluster, deleted });
    return deleted.sort();
  };
}
