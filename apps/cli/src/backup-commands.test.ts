import { describe, expect, it } from 'vitest';
import BackupCreate from './commands/backup/create.js';
import BackupList from './commands/backup/list.js';
import BackupPrune from './commands/backup/prune.js';
import Down from './commands/down.js';
import { validateEnvelope } from './schemas.js';
import {
  type FakeRuntime,
  fakeRuntime,
  runCommand,
  sampleBackup,
  sampleOperationResult,
} from './test-support.js';

const STATE = { HACP_STATE_DIR: '/var/lib/hacp-test' };

const callsOf = (runtime: FakeRuntime) => runtime.controlPlanes.flatMap((entry) => entry.controlPlane.calls);
const printed = (runtime: FakeRuntime) =>
  JSON.parse(runtime.stdout) as { status: number; error?: { code: string; message: string } };

describe('hacp backup', () => {
  it('list prints a table a person reads: time, size, revision, what took it, whether it verifies', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(BackupList, 'backup list', [], runtime);
    expect(runtime.exitCode).toBe(0);
    const lines = runtime.stdout.split('\n');
    expect(lines[0]).toBe('Cluster kubernetes (uid 0b7e1c1e-4f4e-4a8a-9a57-2f4f1a0e9d11):');
    expect(lines[1]).toMatch(/^ {2}ID +TAKEN \(UTC\) +SIZE +REVISION +TAKEN BY +VERIFIED$/);
    expect(lines[2]).toMatch(
      /^ {2}backup-20261124080000-0f0f0f +2026-11-24 08:00:00Z +2\.0 MB +1042 +backup create +ok$/,
    );
    expect(lines[3]).toMatch(/replicate +NO: its sha256 trailer does not match its contents$/);
    expect(runtime.stdout).toContain(
      '1 more backup of earlier clusters named kubernetes or of unknown identity',
    );
    expect(callsOf(runtime)).toEqual([
      { method: 'backups.list', options: expect.objectContaining({ all: false }) },
    ]);
  });

  it('list --all --json gives every field, in the schema', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(BackupList, 'backup list', ['--all', '--json'], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(validateEnvelope('backup-list', JSON.parse(runtime.stdout)).errors).toEqual([]);
    expect(callsOf(runtime)[0]?.options).toMatchObject({ all: true });
  });

  it('create prints the id and the path', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(BackupCreate, 'backup create', [], runtime);
    expect(runtime.exitCode).toBe(0);
    const backup = sampleBackup();
    expect(runtime.stdout).toBe(
      `Took backup ${backup.id} from kubernetes-master at revision 1042 (2.0 MB).\nPath: ${backup.path}\n`,
    );
  });

  it.each([
    [['--keep-within', '7days'], '--keep-within'],
    [['--keep-within', '0h'], '--keep-within'],
    [['--keep-last', '0'], '--keep-last'],
    [['--keep-last', 'three'], '--keep-last'],
  ])('prune %j exits 2 naming the flag, before the control plane is even made', async (args, flag) => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(BackupPrune, 'backup prune', [...args, '--json'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(printed(runtime).error?.code).toBe('INVALID_ARGUMENT');
    expect(printed(runtime).error?.message).toContain(flag);
    expect(runtime.controlPlanes).toEqual([]);
  });

  it('prune passes the flags on, and says what a dry run would delete', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(
      BackupPrune,
      'backup prune',
      ['--keep-last', '1', '--keep-within', '36h', '--dry-run'],
      runtime,
    );
    expect(runtime.exitCode).toBe(0);
    expect(callsOf(runtime)[0]?.options).toMatchObject({ keepLast: 1, keepWithin: '36h', dryRun: true });
    expect(runtime.stdout).toContain('Would delete (dry run, nothing deleted):');
  });

  it('takes the retention in force from HACP_BACKUP_KEEP_LAST and HACP_BACKUP_KEEP_WITHIN, and refuses a bad one with exit 2', async () => {
    const runtime = fakeRuntime({
      env: { ...STATE, HACP_BACKUP_KEEP_LAST: '3', HACP_BACKUP_KEEP_WITHIN: '36h' },
    });
    await runCommand(BackupCreate, 'backup create', ['--json'], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(runtime.controlPlanes[0]?.settings.backupRetention).toEqual({ keepLast: 3, keepWithin: '36h' });

    const unset = fakeRuntime({ env: STATE });
    await runCommand(BackupCreate, 'backup create', ['--json'], unset);
    expect(unset.controlPlanes[0]?.settings.backupRetention).toBeUndefined();

    for (const env of [{ HACP_BACKUP_KEEP_WITHIN: 'a week' }, { HACP_BACKUP_KEEP_LAST: '-1' }]) {
      const bad = fakeRuntime({ env: { ...STATE, ...env } });
      await runCommand(BackupCreate, 'backup create', ['--json'], bad);
      expect(bad.exitCode).toBe(2);
      expect(printed(bad).error?.message).toContain(Object.keys(env)[0]);
      expect(bad.controlPlanes).toEqual([]);
    }
  });

  it('down prints where its last backup is', async () => {
    const path = '/var/lib/hacp-test/clusters/kubernetes/backups/op-1-snapshot.db';
    const runtime = fakeRuntime({
      env: STATE,
      result: sampleOperationResult({
        operation: 'down',
        replicas: [],
        backup: { id: 'op-1-snapshot', path },
      }),
    });
    await runCommand(Down, 'down', ['--yes'], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(runtime.stdout).toContain(`Last etcd backup (kept): ${path}\n`);
  });
});
