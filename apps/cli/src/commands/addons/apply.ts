import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { ErrorCode, HacpError } from '../../errors.js';
import { type AddonsApplyCommandResult, renderAddonsApply } from '../../render-kubernetes.js';

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'there is no such file',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
};

export default class AddonsApply extends HacpCommand<typeof AddonsApply, AddonsApplyCommandResult> {
  static override summary =
    "Add manifests to the cluster's add-ons; every replica's add-on manager applies them.";

  static override description =
    `Reads each file, checks every object in it (each needs the label addonmanager.kubernetes.io/mode: Reconcile or EnsureExists), and adds it to the cluster's add-on folder under its own name, replacing a file of that name; then copies the folder to every running replica, whose add-on manager applies it on its next pass (every 10 seconds). A file that cannot be read or a manifest that fails its check is refused (INVALID_ARGUMENT) and nothing is added.`;

  static override examples = [
    {
      description: 'Add two manifests.',
      command: '<%= config.bin %> addons apply -f dns.yaml -f metrics-server.yaml',
    },
  ];

  static override flags = {
    file: Flags.string({
      char: 'f',
      summary: 'A manifest file (YAML or JSON); repeat for more.',
      helpValue: '<file>',
      multiple: true,
      required: true,
    }),
  };

  async run(): Promise<AddonsApplyCommandResult> {
    const files = await Promise.all(this.flags.file.map((file) => this.#read(file)));
    return (await this.controlPlane()).addons.apply({ files, signal: this.signal });
  }

  /** @throws HacpError INVALID_ARGUMENT naming the file, when it cannot be read. */
  async #read(file: string): Promise<{ name: string; text: string }> {
    const path = resolve(this.io.cwd, file);
    try {
      return { name: basename(path), text: await readFile(path, 'utf8') };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      const reason = READ_FAILURES[code] ?? (error instanceof Error ? error.message : String(error));
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `Cannot read the add-on file ${file}: ${reason}.`,
        actions: ['Pass -f with a readable manifest file.'],
        details: { field: 'file', value: file },
        cause: error,
      });
    }
  }

  protected override renderText(result: AddonsApplyCommandResult): string {
    return renderAddonsApply(result);
  }
}
