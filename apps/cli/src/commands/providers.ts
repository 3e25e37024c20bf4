import { HacpCommand } from '../base-command.js';
import { listProviders } from '../providers.js';
import { type ProvidersResult, renderProviders } from '../render.js';

export default class Providers extends HacpCommand<typeof Providers, ProvidersResult> {
  static override summary = 'List the providers --provider takes, with their package and version.';

  static override description =
    'The built-in providers (local, gce) and those that installed or linked plugins contribute through their `hacp:providers` hook. Add one with `hacp plugins install <package>` or `hacp plugins link <folder>`; a package named hacp-provider-<name> installed where hacp runs also works with --provider <name>. A plugin that fails to load is skipped with a warning.';

  static override examples = [
    { description: 'List them.', command: '<%= config.bin %> providers' },
    {
      description: 'Link the example plugin, then list them as JSON.',
      command:
        '<%= config.bin %> plugins link ./examples/provider-plugin-example --no-install && <%= config.bin %> providers --json',
    },
  ];

  // Only --json: the cluster, provider and state folder do not matter here. (The cast keeps the
  // base class's flag types; the base command defaults what is absent.)
  static override baseFlags = {} as typeof HacpCommand.baseFlags;

  async run(): Promise<ProvidersResult> {
    const { providers, warnings } = await listProviders(this.config, this.io.cwd);
    for (const warning of warnings) this.addWarning(warning);
    return { providers: providers.map(({ create: _create, ...listing }) => listing) };
  }

  protected override renderText(result: ProvidersResult): string {
    return renderProviders(result);
  }
}
