/**
 * The base of the mutating operations (up, replicate, remove, replace, repair, down, resume,
 * kube-up, kube-down): they return an OperationResult, and an interruption leaves them resumable.
 */
import type { OperationResult, RecoverOptions } from '@hacp/sdk';
import type { Command } from '@oclif/core';
import { HacpCommand } from './base-command.js';
import { ErrorCode, HacpError } from './errors.js';
import { renderOperationResult } from './render.js';

export abstract class OperationCommand<T extends typeof Command> extends HacpCommand<T, OperationResult> {
  protected override readonly resumable: boolean = true;

  protected override renderText(result: OperationResult): string {
    return renderOperationResult(result);
  }

  /**
   * Asks before `down` on a terminal; without one (or with `--json`) only `--yes` allows it.
   *
   * @throws HacpError INVALID_ARGUMENT without a terminal and without `--yes`; ABORTED when the
   *   answer is not yes.
   */
  protected async confirmDown(yes: boolean | undefined): Promise<void> {
    if (yes === true) return;
    const { cluster, provider, stateDir } = this.settings;
    if (!this.io.interactive || this.settings.json) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `\`hacp ${this.commandName}\` deletes cluster ${cluster} and everything in it, and there is no terminal to confirm on: pass --yes.`,
        actions: [`Run \`hacp ${this.commandName} --yes\` to delete cluster ${cluster}.`],
        details: { field: 'yes' },
      });
    }
    const confirmed = await this.io.confirm(
      `Delete cluster ${cluster} (provider ${provider}, state ${stateDir}): every replica, the load balancer, the endpoint address, the firewall rules, the record and the PKI? [y/N] `,
      this.signal,
    );
    if (!confirmed) {
      throw new HacpError({
        code: ErrorCode.ABORTED,
        message: `Not confirmed: cluster ${cluster} was not deleted.`,
        details: { cluster },
      });
    }
  }

  /**
   * Says what `recover` (or `backup restore`) would bring back and lose, and asks on a terminal;
   * without one (or with `--json`) only `--yes` allows it. Refusals (a cluster with quorum, a zone
   * down, no source) come from the same plan, before anything is asked.
   *
   * @throws HacpError INVALID_ARGUMENT without a terminal and without `--yes`; ABORTED when the
   *   answer is not yes.
   */
  protected async confirmRecovery(
    request: Omit<RecoverOptions, 'signal'>,
    yes: boolean | undefined,
  ): Promise<void> {
    const plan = await (await this.controlPlane()).plan({ operation: 'recover', ...request });
    if (yes === true) return;
    const { cluster } = this.settings;
    const loss = plan.warnings.find((warning) => warning.code === 'RECOVERY_LOSES_DATA')?.message ?? '';
    const command = `hacp ${this.commandName}${request.backup === undefined ? '' : ` ${request.backup}`}`;
    if (!this.io.interactive || this.settings.json) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `\`${command}\` deletes replicas of cluster ${cluster} and may lose data, and there is no terminal to confirm on: pass --yes. ${loss}`,
        actions: [`Read \`hacp plan recover\` first, then run \`${command} --yes\`.`],
        details: { field: 'yes' },
      });
    }
    const replicas = plan.expected.replicas.map((replica) => `${replica.name} (${replica.zone})`).join(', ');
    const confirmed = await this.io.confirm(
      `${loss}\nRecover cluster ${cluster} in ${plan.steps.length} steps, ending with ${replicas}? [y/N] `,
      this.signal,
    );
    if (!confirmed) {
      throw new HacpError({
        code: ErrorCode.ABORTED,
        message: `Not confirmed: cluster ${cluster} was not changed.`,
        details: { cluster },
      });
    }
  }
}
