/**
 * Network firewall rules to a cluster's replicas (target tag `<cluster>-master`): from the
 * replicas only (`sourceTags`, kube-up's `<cluster>-master-etcd`) or from anywhere; with IAP reach,
 * a replicas-only rule has a companion `<name>-iap` from IAP's range for the same ports, so that
 * hacp can tunnel to them. Also the rule that lets GCE's health checkers reach the load balancer's
 * health port.
 */

import type { protos } from '@google-cloud/compute';
import {
  assertFirewallRule,
  assertResourceName,
  type MutationOptions,
  type ProviderV1,
  throwIfAborted,
} from '@hacp/core';
import { NO_GAX_RETRY } from './compute.js';
import type { GceContext } from './context.js';
import { assertDerivedNamesFit, derivedName, IAP_SOURCE_RANGE, masterTag } from './names.js';

/** A firewall rule as the Compute API returns it. */
export type GceFirewall = protos.google.cloud.compute.v1.IFirewall;

/** The parts of a firewall rule hacp decides. */
export interface FirewallShape {
  name: string;
  description: string;
  protocol: 'tcp' | 'udp';
  ports: readonly string[];
  targetTags: readonly string[];
  sourceTags?: readonly string[];
  sourceRanges?: readonly string[];
}

const sorted = (values: readonly (string | null | undefined)[] | null | undefined) =>
  [...(values ?? [])].filter((value): value is string => typeof value === 'string').sort();

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, index) => value === b[index]);

/** The firewall part of the GCE provider, plus the rule primitive the load balancers use. */
export interface GceFirewalls {
  api: ProviderV1['firewalls'];
  /** The rule, or undefined. */
  read(name: string, signal?: AbortSignal): Promise<GceFirewall | undefined>;
  /**
   * Creates the rule or brings it to this shape. `known` is the rule as the caller just read it
   * (`existing` undefined: there is none); without it, the rule is read first.
   */
  ensureShape(
    shape: FirewallShape,
    options: MutationOptions,
    known?: { existing: GceFirewall | undefined },
  ): Promise<void>;
  /** Deletes a rule; a missing one is fine. */
  deleteRule(name: string, options: MutationOptions): Promise<void>;
}

/**
 * The firewalls of the GCE provider.
 *
 * @example
 * await createGceFirewalls(context).api.ensure(
 *   { name: 'kubernetes-master-etcd', cluster: 'kubernetes', protocol: 'tcp', ports: ['2379-2381'], from: 'replicas' },
 *   { requestId },
 * );
 */
export function createGceFirewalls(context: GceContext): GceFirewalls {
  const { session, settings, logger } = context;
  const project = settings.project;

  async function read(name: string, signal?: AbortSignal): Promise<GceFirewall | undefined> {
    const found = await session.find({ call: `get firewall global/firewalls/${name}`, signal }, () =>
      session.clients().firewalls.get({ project, firewall: name }, NO_GAX_RETRY),
    );
    return found?.[0];
  }

  function resourceOf(shape: FirewallShape): GceFirewall {
    return {
      name: shape.name,
      description: shape.description,
      network: context.networkUrl,
      direction: 'INGRESS',
      allowed: [{ IPProtocol: shape.protocol, ports: [...shape.ports] }],
      targetTags: [...shape.targetTags],
      ...(shape.sourceTags === undefined ? {} : { sourceTags: [...shape.sourceTags] }),
      ...(shape.sourceRanges === undefined ? {} : { sourceRanges: [...shape.sourceRanges] }),
    };
  }

  async function ensureShape(
    shape: FirewallShape,
    options: MutationOptions,
    known?: { existing: GceFirewall | undefined },
  ): Promise<void> {
    const existing = known === undefined ? await read(shape.name, options.signal) : known.existing;
    const resource = resourceOf(shape);
    if (existing === undefined) {
      await session.mutate(
        context.mutation(`insert firewall global/firewalls/${shape.name}`, { global: true }, options),
        (requestId) =>
          session
            .clients()
            .firewalls.insert({ project, requestId, firewallResource: resource }, NO_GAX_RETRY),
      );
      logger.info('created firewall rule', { name: shape.name });
      return;
    }
    const allowed = existing.allowed ?? [];
    const same =
      allowed.length === 1 &&
      String(allowed[0]?.IPProtocol).toLowerCase() === shape.protocol &&
      sameList(sorted(allowed[0]?.ports), sorted(shape.ports)) &&
      sameList(sorted(existing.targetTags), sorted(shape.targetTags)) &&
      sameList(sorted(existing.sourceTags), sorted(shape.sourceTags)) &&
      sameList(sorted(existing.sourceRanges), sorted(shape.sourceRanges));
    if (same) return;
    // A JSON merge patch cannot empty a list (the client drops empty lists), so a rule whose
    // sources change kind is replaced whole.
    const dropsAList =
      (sorted(existing.sourceTags).length > 0 && shape.sourceTags === undefined) ||
      (sorted(existing.sourceRanges).length > 0 && shape.sourceRanges === undefined);
    const verb = dropsAList ? 'update' : 'patch';
    await session.mutate(
      context.mutation(`${verb} firewall global/firewalls/${shape.name}`, { global: true }, options),
      (requestId) =>
        dropsAList
          ? session
              .clients()
              .firewalls.update(
                { project, firewall: shape.name, requestId, firewallResource: resource },
                NO_GAX_RETRY,
              )
          : session
              .clients()
              .firewalls.patch(
                { project, firewall: shape.name, requestId, firewallResource: resource },
                NO_GAX_RETRY,
              ),
    );
    logger.info('updated firewall rule', { name: shape.name });
  }

  async function deleteRule(name: string, options: MutationOptions): Promise<void> {
    await session.mutateIfFound(
      context.mutation(`delete firewall global/firewalls/${name}`, { global: true }, options),
      (requestId) => session.clients().firewalls.delete({ project, firewall: name, requestId }, NO_GAX_RETRY),
    );
  }

  const companionDescription = (rule: string) => `hacp: IAP tunnels to the ports of ${rule}`;

  const api: ProviderV1['firewalls'] = {
    async ensure(rule, options) {
      assertFirewallRule(rule);
      assertDerivedNamesFit('name', rule.name, ['-iap']);
      throwIfAborted(options.signal);
      const base = {
        protocol: rule.protocol,
        ports: [...rule.ports],
        targetTags: [masterTag(rule.cluster)],
      };
      await ensureShape(
        {
          ...base,
          name: rule.name,
          description: `hacp: ${rule.from === 'replicas' ? 'between the replicas' : 'to the replicas'} of cluster ${rule.cluster}`,
          ...(rule.from === 'replicas'
            ? { sourceTags: [masterTag(rule.cluster)] }
            : { sourceRanges: ['0.0.0.0/0'] }),
        },
        options,
      );
      const companion = derivedName.iapFirewall(rule.name);
      if (settings.reach === 'iap' && rule.from === 'replicas') {
        await ensureShape(
          {
            ...base,
            name: companion,
            description: companionDescription(rule.name),
            sourceRanges: [IAP_SOURCE_RANGE],
          },
          options,
        );
      } else {
        // A rule open to all needs no companion; one left from an earlier shape goes.
        const stale = await read(companion, options.signal);
        if (stale?.description === companionDescription(rule.name)) await deleteRule(companion, options);
      }
    },

    async delete(name, options) {
      assertResourceName('name', name);
      throwIfAborted(options.signal);
      await deleteRule(name, options);
      const companion = derivedName.iapFirewall(name);
      if (companion.length <= 63) {
        const found = await read(companion, options.signal);
        if (found?.description === companionDescription(name)) await deleteRule(companion, options);
      }
    },
  };

  return { api, read, ensureShape, deleteRule };
}
