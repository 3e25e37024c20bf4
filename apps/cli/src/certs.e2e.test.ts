// `hacp certs renew` and `hacp certs check` with the built CLI and real processes: the renewed
// certificates reach the replicas (read over TLS by `certs check`), also after a zone fails and
// comes back, and the JSON of both commands follows its schema.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterCli, hacp, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

interface Served {
  replica: string;
  port: string;
  serial?: string;
  operatorSerial?: string;
  matches: boolean;
  error?: string;
}
interface Check {
  certificates: { name: string; serial: string }[];
  served: Served[];
}

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  await hacp(['down', '--yes', '--cluster', 'certs'], { stateDir: stateDir.dir });
  await stateDir.remove();
});

describe('hacp certs on the local provider', () => {
  it('renew rolls new certificates onto both replicas; check reads them over TLS, also after a zone fail and restore', async () => {
    const c = clusterCli(stateDir.dir, 'certs');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b']);
    await c.etcd(['put', 'certs/before', 'kept']);

    const checked = await c.run(['certs', 'check', '--json']);
    expect(checked.code, checked.stderr).toBe(0);
    assertEnvelope('certs check', checked.json);
    const before = (checked.json as { result: Check }).result;
    expect(before.served).toHaveLength(4);
    expect(before.served.every((entry) => entry.matches)).toBe(true);
    expect((checked.json as { warnings: { code: string }[] }).warnings).toEqual([]);

    const renewed = await c.run(['certs', 'renew', '--json']);
    expect(renewed.code, renewed.stderr).toBe(0);
    assertEnvelope('certs renew', renewed.json);
    const result = (
      renewed.json as { result: { operation: string; renewed: string[]; steps: { id: string }[] } }
    ).result;
    expect(result.operation).toBe('renew-certs');
    expect(result.renewed).toContain('certs-master/etcd-server');
    expect(result.steps.filter((step) => step.id.startsWith('roll-certs:'))).toHaveLength(2);

    const after = await c.ok<Check>(['certs', 'check']);
    expect(after.served).toHaveLength(4);
    for (const entry of after.served) {
      expect(entry.matches, `${entry.replica} ${entry.port}`).toBe(true);
      const old = before.served.find((b) => b.replica === entry.replica && b.port === entry.port);
      expect(entry.serial).not.toBe(old?.serial);
    }

    // The replicas start from their files again after an outage: they keep serving the new ones.
    expect((await c.run(['zone', 'fail', 'local-b', '--json'])).code).toBe(0);
    expect((await c.run(['zone', 'restore', 'local-b', '--json'])).code).toBe(0);
    await expect
      .poll(
        async () => {
          const status = await c.ok<{ replicas: { state: string }[] }>(['status']);
          return status.replicas.every((replica) => replica.state === 'healthy');
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toBe(true);
    const restored = await c.ok<Check>(['certs', 'check']);
    expect(restored.served.map((entry) => entry.serial)).toEqual(after.served.map((entry) => entry.serial));
    expect(restored.served.every((entry) => entry.matches)).toBe(true);

    const text = await c.run(['certs', 'check']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Served by the replicas (read over TLS):');
    expect(text.stdout).toMatch(/certs-master-[0-9a-f]{3}\s+etcd-peer\s+[0-9A-F]+\s+\S+\s+same/);
    expect(await c.etcd(['get', '--print-value-only', 'certs/before'])).toBe('kept');
  });
});
