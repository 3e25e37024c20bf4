/** The firewall rules of a cluster, written once: `up` ensures them and `down` deletes them. */
import type { FirewallRule } from '@hacp/core';

/** etcd's peer, client and metrics ports between the replicas only; the API ports from anywhere. */
export function firewallRules(cluster: string): FirewallRule[] {
  return [
    { name: `${cluster}-master-etcd`, cluster, protocol: 'tcp', ports: ['2379-2381'], from: 'replicas' },
    { name: `${cluster}-master-https`, cluster, protocol: 'tcp', ports: ['443', '6443'], from: 'any' },
  ];
}
