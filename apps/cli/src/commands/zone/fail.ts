import { Args } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { renderZoneChange, type ZoneChangeResult } from '../../render.js';

export default class ZoneFail extends HacpCommand<typeof ZoneFail, ZoneChangeResult> {
  static override summary = 'Stop every replica in a zone, as an outage would (local provider).';

  static override description =
    'Stops every process of every replica in the zone (of every cluster in the state folder, as an outage would) and refuses new instances there until `hacp zone restore`, to show that the control plane survives the loss of a zone. A zone the provider does not offer is refused, and so is a `--cluster` that does not exist, with nothing stopped. Only the local provider can do this.';

  static override examples = [
    {
      description: 'Fail zone local-b, then look.',
      command: '<%= config.bin %> zone fail local-b && <%= config.bin %> status',
    },
  ];

  static override args = {
    zone: Args.string({ description: 'The zone, such as local-b.', required: true }),
  };

  async run() {
    const replicas = await (await this.zoneProvider('zone fail', this.args.zone)).failZone(this.args.zone, {
      signal: this.signal,
    });
    return { zone: this.args.zone, replicas };
  }

  protected override renderText(result: ZoneChangeResult): string {
    return renderZoneChange(result, 'failed');
  }
}
