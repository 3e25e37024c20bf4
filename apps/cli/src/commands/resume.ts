import { OperationCommand } from '../operation-command.js';

export default class Resume extends OperationCommand<typeof Resume> {
  static override summary = 'Continue the interrupted operation.';

  static override description =
    'Every operation is journaled step by step. After Ctrl-C, a crash or a failed step, `hacp resume` continues from the first step not done; each step checks the real state first, so a step interrupted half-way is finished, not repeated. A replicate that failed before its learner was promoted finishes undoing itself instead.';

  static override examples = [
    { description: 'Continue what the last command left.', command: '<%= config.bin %> resume' },
    { description: 'For a named cluster.', command: '<%= config.bin %> resume --cluster prod' },
  ];

  async run() {
    return (await this.controlPlane()).resume({ signal: this.signal });
  }
}
