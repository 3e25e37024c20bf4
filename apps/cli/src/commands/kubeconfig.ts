import { join, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { HacpCommand } from '../base-command.js';
import { type KubeconfigCommandResult, renderKubeconfig } from '../render-kubernetes.js';

export default class Kubeconfig extends HacpCommand<typeof Kubeconfig, KubeconfigCommandResult> {
  static override summary = "Print or write the cluster's admin kubeconfig.";

  static override description =
    `The kubeconfig of the cluster's admin client for its endpoint, from the cluster PKI. Without --output it is printed on stdout; with --output it is written there, mode 0600 in folders made 0700.

It holds the admin's private key, so --json never prints it: the result is { server, context, path }, and without --output the file is written to <state-dir>/clusters/<cluster>/admin.conf, where \`hacp up\` writes it too. An etcd-only cluster has no kubeconfig (INVALID_ARGUMENT).`;

  static override examples = [
    {
      description: 'Use it at once.',
      command: '<%= config.bin %> kubeconfig > ~/.kube/hacp && kubectl --kubeconfig ~/.kube/hacp get nodes',
    },
    {
      description: 'Write it to a file.',
      command: '<%= config.bin %> kubeconfig --output ~/.kube/hacp-prod --cluster prod',
    },
    {
      description: 'Where it is, as JSON (never the contents).',
      command: '<%= config.bin %> kubeconfig --json',
    },
  ];

  static override flags = {
    output: Flags.string({
      char: 'o',
      summary: 'Write it to this file (mode 0600) instead of printing it.',
      description: 'With --json, default <state-dir>/clusters/<cluster>/admin.conf.',
      helpValue: '<file>',
    }),
  };

  async run(): Promise<KubeconfigCommandResult> {
    const output =
      this.flags.output ?? (this.settings.json ? join(this.settings.dataDir, 'admin.conf') : undefined);
    const controlPlane = await this.controlPlane();
    if (output === undefined) {
      const { server, context, contents } = await controlPlane.kubeconfig({ signal: this.signal });
      return { server, context, contents };
    }
    const written = await controlPlane.kubeconfig({
      path: resolve(this.io.cwd, output),
      signal: this.signal,
    });
    return {
      server: written.server,
      context: written.context,
      path: written.path ?? resolve(this.io.cwd, output),
    };
  }

  protected override renderText(result: KubeconfigCommandResult): string {
    return renderKubeconfig(result);
  }
}
