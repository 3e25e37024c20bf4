import { HacpCommand } from '../../base-command.js';
import { type AddonsListResult, renderAddons } from '../../render-kubernetes.js';

export default class Addons extends HacpCommand<typeof Addons, AddonsListResult> {
  static override summary =
    "List the cluster's add-ons: each manifest file and its objects with their modes.";

  static override description =
    "The cluster's add-ons are a folder of manifests (<state-dir>/clusters/<cluster>/addons) that every replica's add-on manager keeps applied: Reconcile objects are kept as the file says, EnsureExists objects are created when missing and otherwise left alone. `hacp addons apply -f <file>` adds one. Also `hacp addons list`.";

  static override aliases = ['addons:list'];

  static override examples = [
    { description: 'The add-ons.', command: '<%= config.bin %> addons' },
    { description: 'As JSON.', command: '<%= config.bin %> addons list --cluster prod --json' },
  ];

  async run(): Promise<AddonsListResult> {
    const files = await (await this.controlPlane()).addons.list({ signal: this.signal });
    return { files };
  }

  protected override renderText(result: AddonsListResult): string {
    return renderAddons(result);
  }
}
