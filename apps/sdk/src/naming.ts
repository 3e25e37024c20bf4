/**
 * How a plan names the replicas it creates: not at random, but from what the plan sees, so that
 * `hacp plan replicate` shows the name `hacp replicate` then creates while the cluster has not changed
 * in between (the journal keeps the name for a resume). kube-up's `<cluster>-master-<3 hex>` form.
 */
import { createHash } from 'node:crypto';
import type { ClusterView } from '@hacp/topology';
import type { ClusterRecord } from './record.js';

/**
 * The suffixes to try for a new replica's name, in order: drawn from the cluster's own token (so two
 * clusters do not share a sequence) and the replicas and members it has now.
 */
export function nameSuffixes(record: ClusterRecord, view: ClusterView): () => string {
  const seed = [
    record.etcdToken,
    ...view.replicas.map((replica) => replica.name).sort(),
    ...view.members.map((member) => member.name || member.id).sort(),
  ].join('\n');
  let attempt = 0;
  return () => createHash('sha256').update(`${seed}\n${attempt++}`).digest('hex').slice(0, 3);
}
