import type { RolloutResult } from '@hacp/sdk';
import { Flags } from '@oclif/core';
import { HacpCommand } from '../base-command.js';
import { operationFlags } from '../operation-options.js';
import { renderRollout } from '../render.js';

export default class Upgrade extends HacpCommand<typeof Upgrade, RolloutResult> {
  static override summary = 'Move every replica to another Kubernetes version, one at a time.';

  static override description =
    "Checks the version skew policy first (at most one minor version up, never a minor down; a patch either way), has the version's binaries ready, records the new version, then replaces the replicas one at a time as `hacp rollout restart` does: each replacement runs the new version. Refused, with nothing changed, for a skew the policy does not allow, an etcd-only cluster, or while a replica or etcd member is unhealthy. Interrupted, the same command run again finishes the upgrade.";

  static override examples = [
    {
      description: 'Go to the newest 1.32 patch release.',
      command: '<%= config.bin %> upgrade --kubernetes-version 1.32',
    },
    {
      description: 'Replace each replica with the same version (as rollout restart does).',
      command: '<%= config.bin %> upgrade --kubernetes-version v1.32.0 --max-surge 0',
    },
  ];

  static override flags = {
    'kubernetes-version': Flags.string({
      summary: 'The version to go to: v1.32.1, 1.32, stable-1.32, latest-1.32.',
      description:
        'A spec is resolved through the release location ($HACP_KUBE_RELEASE_URL); the exact version is recorded.',
      helpValue: '<version>',
      required: true,
    }),
    'max-surge': operationFlags['max-surge'],
  };

  protected override get continueAction(): string {
    // Read after a parse error too, when there are no flags.
    const version = this.flags?.['kubernetes-version'] ?? '<version>';
    return `Run \`hacp upgrade --kubernetes-version ${version}\` again to finish it.`;
  }

  async run() {
    const surge = this.flags['max-surge'];
    return (await this.controlPlane()).upgrade({
      kubernetesVersion: this.flags['kubernetes-version'],
      ...(surge === undefined ? {} : { maxSurge: Number(surge) as 0 | 1 }),
      signal: this.signal,
    });
  }

  protected override renderText(result: RolloutResult): string {
    return renderRollout(result);
  }
}
