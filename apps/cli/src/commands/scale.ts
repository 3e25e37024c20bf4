import type { ScaleResult } from '@hacp/sdk';
import { HacpCommand } from '../base-command.js';
import { describedFlag, operationFlags, scaleOptions } from '../operation-options.js';
import { renderScaleResult } from '../render-scale.js';

export default class Scale extends HacpCommand<typeof Scale, ScaleResult> {
  static override summary = 'Take the control plane to N replicas, one replicate or remove at a time.';

  static override description =
    `Adds or removes replicas one at a time until the cluster has --replicas of them, each change a normal replicate or remove (snapshot, learner, promotion, the load balancer, quorum checks), journaled as they are. A new replica goes to the zone with the fewest replicas among the zones that are up (of --zones, when given); a removal comes from the zone with the most (replicas outside --zones first), never the first replica, so going back to 1 keeps it.

An even count is refused unless --allow-even (it tolerates no more failures than one fewer), and more than 7 unless --force; both with the reason, exit 2, nothing changed. Interrupted, run the same command again: it finishes the replicate or remove left in flight, then goes on.`;

  static override examples = [
    {
      description: 'From one replica to three, one in each zone.',
      command: '<%= config.bin %> scale --replicas 3',
    },
    {
      description: 'Five replicas over three zones (2/2/1).',
      command: '<%= config.bin %> scale --replicas 5 --zones local-a,local-b,local-c',
    },
    { description: 'Back to the first replica alone.', command: '<%= config.bin %> scale --replicas 1' },
    {
      description: 'Every step, without running them.',
      command: '<%= config.bin %> plan scale --replicas 3',
    },
  ];

  static override flags = {
    replicas: describedFlag(operationFlags.replicas, {
      summary: 'The replica count to reach (required): 1, 3, 5 or 7.',
      description: 'An even count needs --allow-even, more than 7 needs --force.',
    }),
    zones: operationFlags.zones,
    'allow-even': operationFlags['allow-even'],
    force: operationFlags.force,
  };

  protected override readonly resumable: boolean = true;

  async run() {
    const options = scaleOptions(this.flags);
    return (await this.controlPlane()).scale({ ...options, signal: this.signal });
  }

  protected override renderText(result: ScaleResult): string {
    return renderScaleResult(result);
  }
}
