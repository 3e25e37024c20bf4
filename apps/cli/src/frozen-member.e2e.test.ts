// A frozen etcd member (SIGSTOP: a hung host) must not keep hacp running after it has answered:
// status, plan and a refused replicate each print their answer and exit, within a bound generous
// for two busy cores.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterCli, hacp, tempStateDir } from './e2e-support.js';

const CLUSTER = 'frozen';
let stateDir: { dir: string; remove(): Promise<void> };
let frozenPid: number | undefined;

beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  if (frozenPid !== undefined) process.kill(frozenPid, 'SIGCONT');
  await hacp(['down', '--yes', '--cluster', CLUSTER], { stateDir: stateDir.dir });
  await stateDir.remove();
});

/** The pid of a replica's etcd, from the pid file its provider keeps (`<replica>/run/etcd.json`). */
async function etcdPidOf(root: string, replica: string): Promise<number> {
  const found: number[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (path.endsWith(join(replica, 'run', 'etcd.json'))) {
        const record = JSON.parse(await readFile(path, 'utf8')) as { process?: { pid?: number } };
        if (record.process?.pid !== undefined) found.push(record.process.pid);
      }
    }
  };
  await walk(root);
  if (found.length !== 1) throw new Error(`expected one etcd pid file of ${replica}, found ${found.length}`);
  return found[0] as number;
}

describe('a frozen etcd member', () => {
  it('does not keep hacp running after it answered', { timeout: 300_000 }, async () => {
    const c = clusterCli(stateDir.dir, CLUSTER);
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b']);
    await c.ok(['replicate', '--zone', 'local-c']);
    const status = await c.ok<{ replicas: { name: string; zone: string }[] }>(['status']);
    const follower = status.replicas.find((replica) => replica.zone === 'local-c');
    expect(follower).toBeDefined();
    frozenPid = await etcdPidOf(stateDir.dir, follower?.name ?? '');
    process.kill(frozenPid, 'SIGSTOP');

    for (const args of [
      ['status', '--json'],
      ['plan', 'repair', '--json'],
      ['replicate', '--zone', 'local-a', '--json'],
    ]) {
      const started = Date.now();
      const result = await c.run(args);
      const tookMs = Date.now() - started;
      // An answer was printed (a result, or a refusal), and the process ended on its own.
      expect(result.json, `${args.join(' ')}: ${result.stderr}`).toBeDefined();
      expect(tookMs, `${args.join(' ')} took ${tookMs} ms`).toBeLessThan(90_000);
    }
  });
});
