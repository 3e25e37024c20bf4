import type { Plan as OperationPlan } from '@hacp/sdk';
import { Args } from '@oclif/core';
import { HacpCommand } from '../base-command.js';
import { describedFlag, operationFlags, PLANNED_OPERATIONS, planRequest } from '../operation-options.js';
import { renderPlan } from '../render.js';

export default class Plan extends HacpCommand<typeof Plan, OperationPlan> {
  static override summary = 'Print the steps an operation would run now, without running it.';

  static override description =
    'Plans up, replicate, remove, replace, repair, down, recover, renew-certs (`certs renew`) rotate-ca (`certs rotate-ca`) or scale (every replicate or remove `hacp scale` would run, each planned on the cluster the one before leaves) from the cluster as it is now, with the same flags and environment variables as the operation, and prints its steps, what undoes it on failure and the state it reaches. It only reads. With --json the result is the plan itself (schemas/plan.json).';

  static override examples = [
    {
      description: 'What adding a replica in local-b would do.',
      command: '<%= config.bin %> plan replicate --zone local-b',
    },
    {
      description: 'Which replica remove would pick in a zone.',
      command: '<%= config.bin %> plan remove --zone local-a',
    },
    {
      description: "Whether replace would migrate a broken replica's etcd member onto its surviving disk.",
      command: '<%= config.bin %> plan replace --replica kubernetes-master-1f3 --keep-data',
    },
    {
      description: 'A new cluster, as JSON.',
      command: '<%= config.bin %> plan up --zone local-a --multizone --json',
    },
  ];

  static override args = {
    operation: Args.string({
      description: 'The operation to plan.',
      options: [...PLANNED_OPERATIONS],
      required: true,
    }),
  };

  static override flags = {
    zone: describedFlag(operationFlags.zone, { summary: 'up, replicate, remove: the zone (KUBE_GCE_ZONE).' }),
    multizone: describedFlag(operationFlags.multizone, {
      summary: 'up: allow replicas in other zones (MULTIZONE).',
    }),
    'quorum-reads': describedFlag(operationFlags['quorum-reads'], {
      summary: 'up: record quorum reads (ENABLE_ETCD_QUORUM_READ).',
    }),
    'key-algorithm': describedFlag(operationFlags['key-algorithm'], {
      summary: "up: the cluster PKI's key algorithm.",
    }),
    'kubernetes-version': describedFlag(operationFlags['kubernetes-version'], {
      summary: 'up: the Kubernetes version (HACP_KUBERNETES_VERSION).',
    }),
    kubernetes: describedFlag(operationFlags.kubernetes, {
      summary: 'up: run Kubernetes on every replica; --no-kubernetes for etcd only (HACP_KUBERNETES).',
    }),
    name: describedFlag(operationFlags.name, { summary: "replicate: the new replica's name." }),
    replica: describedFlag(operationFlags.replica, {
      summary: 'remove (KUBE_REPLICA_NAME), replace: the replica.',
    }),
    ca: describedFlag(operationFlags.ca, {
      summary: 'rotate-ca: the CA to replace (etcd, cluster or front-proxy).',
    }),
    replicas: describedFlag(operationFlags.replicas, { summary: 'scale: the replica count to reach.' }),
    zones: describedFlag(operationFlags.zones, { summary: 'scale: the zones new replicas may go to.' }),
    'allow-even': describedFlag(operationFlags['allow-even'], { summary: 'scale: allow an even count.' }),
    force: describedFlag(operationFlags.force, { summary: 'scale: allow more than 7 replicas.' }),
    'keep-data': describedFlag(operationFlags['keep-data'], {
      summary:
        "replace: keep the replica's etcd member and data (member migration); --no-keep-data for a new member.",
    }),
  };

  async run() {
    const operation = this.args.operation as (typeof PLANNED_OPERATIONS)[number];
    const request = planRequest(operation, this.flags, this.io.env);
    return (await this.controlPlane()).plan(request);
  }

  protected override renderText(result: OperationPlan): string {
    return renderPlan(result);
  }
}
