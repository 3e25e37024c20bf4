import { Args } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { renderZoneChange, type ZoneChangeResult } from '../../render.js';

export default class ZoneRestore extends HacpCommand<typeof ZoneRestore, ZoneChangeResult> {
  static override summary = 'Start again the replicas `zone fail` stopped (local provider).';

  static override description =
    'Starts every replica that `hacp zone fail` stopped in the zone and allows new instances there again. A replica stopped on its own stays stopped. Only the local provider can do this.';

  static override examples = [
    { description: 'Bring zone local-b back.', command: '<%= config.bin %> zone restore local-b' },
  ];

  static override args = {
    zone: Args.string({ description: 'The zone, such as local-b.', required: true }),
  };

  async run() {
    const replicas = await (await this.zoneProvider('zone restore', this.args.zone)).restoreZone(
      this.args.zone,
      {
        signal: this.signal,
      },
    );
    return { zone: this.args.zone, replicas };
  }

  protected override renderText(result: ZoneChangeResult): string {
    return renderZoneChange(result, 'restored');
  }
}
