import type { RolloutResult } from '@hacp/sdk';
import { HacpCommand } from '../../base-command.js';
import { operationFlags } from '../../operation-options.js';
import { renderRollout } from '../../render.js';

export default class RolloutRestart extends HacpCommand<typeof RolloutRestart, RolloutResult> {
  static override summary = 'Replace every replica once, one at a time, to pick up a changed setting.';

  static override description =
    'Replaces the replicas one at a time, the etcd followers first and the leader last, each by a normal replace in its zone: with --max-surge 1 (the default) the new replica joins before the old one leaves; with --max-surge 0 (three replicas or more) the old one leaves first. Each replica leaves the load balancer before its etcd member goes, so the endpoint keeps serving. Refused, with nothing changed, while a replica or etcd member is unhealthy. Interrupted, the same command run again finishes the replace that was cut short, then the rest.';

  static override examples = [
    { description: 'Replace every replica, new before old.', command: '<%= config.bin %> rollout restart' },
    {
      description: 'At three replicas or more, old before new (never one machine more).',
      command: '<%= config.bin %> rollout restart --max-surge 0',
    },
  ];

  static override flags = { 'max-surge': operationFlags['max-surge'] };

  protected override get continueAction(): string {
    return 'Run `hacp rollout restart` again: it finishes the replace that was cut short, then the rest.';
  }

  async run() {
    const surge = this.flags['max-surge'];
    return (await this.controlPlane()).rollout({
      ...(surge === undefined ? {} : { maxSurge: Number(surge) as 0 | 1 }),
      signal: this.signal,
    });
  }

  protected override renderText(result: RolloutResult): string {
    return renderRollout(result);
  }
}
