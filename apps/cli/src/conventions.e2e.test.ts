// The command line as people type it, through the built CLI: help three ways, global flags before
// the command, and an unknown command refused like any bad input (exit 2, "did you mean", and the
// error envelope with --json). No cluster is made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hacp, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  await stateDir.remove();
});

const run = (args: string[]) => hacp(args, { stateDir: stateDir.dir });

describe('the command line as people type it', () => {
  it('shows a command help with -h, --help and hacp help <command>', async () => {
    for (const args of [
      ['up', '-h'],
      ['up', '--help'],
      ['help', 'up'],
    ]) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toContain('$ hacp up');
    }
  });

  it('takes global flags before the command', async () => {
    const result = await run(['--cluster', 'nope', 'status', '--json']);
    expect(result.code).toBe(2);
    assertEnvelope('error', result.json);
    expect(result.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((result.json as { error: { message: string } }).error.message).toContain('Cluster nope');
  });

  it('refuses an unknown command with exit 2, the nearest command, and an envelope with --json', async () => {
    const before = snapshotTree(stateDir.dir);
    const json = await run(['statuss', '--json']);
    expect(json.code).toBe(2);
    assertEnvelope('error', json.json);
    expect(json.json).toMatchObject({
      status: 2,
      error: {
        code: 'INVALID_ARGUMENT',
        actions: ['Did you mean `hacp status`?', 'Run `hacp --help` to list the commands.'],
      },
    });
    const text = await run(['zone', 'fial', 'local-b']);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('Did you mean `hacp zone fail`?');
    expect(snapshotTree(stateDir.dir)).toEqual(before);
  });
});
