// `hacp certs rotate-ca` with the built CLI and real processes: another CA than etcd is refused with
// the state folder unchanged; `--ca etcd` leaves both replicas serving certificates of the new etcd
// CA, which `certs check` reports, and the JSON follows its schema.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterCli, hacp, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

interface Check {
  certificates: { name: string; serial: string }[];
  served: { replica: string; port: string; matches: boolean }[];
}
interface Rotated {
  operation: string;
  ca: string;
  newCa: { serial: string; commonName: string };
  reissued: string[];
}

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  await hacp(['down', '--yes', '--cluster', 'rotate'], { stateDir: stateDir.dir });
  await stateDir.remove();
});

describe('hacp certs rotate-ca on the local provider', () => {
  it('refuses --ca cluster (exit 2, nothing changed), then rotates the etcd CA onto both replicas', async () => {
    const c = clusterCli(stateDir.dir, 'rotate');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b']);
    await c.etcd(['put', 'rotate/before', 'kept']);
    const checked = await c.run(['certs', 'check', '--json']);
    const before = (checked.json as { result: Check }).result;
    const oldSerial = before.certificates.find((entry) => entry.name === 'etcd-ca')?.serial;

    const snapshot = snapshotTree(stateDir.dir);
    const refused = await c.run(['certs', 'rotate-ca', '--ca', 'cluster', '--json']);
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.json).toMatchObject({ status: 2, error: { code: 'INVALID_ARGUMENT' } });
    assertEnvelope('error', refused.json);
    expect((refused.json as { error: { message: string } }).error.message).toContain('not supported yet');
    expect(snapshotTree(stateDir.dir)).toEqual(snapshot);

    const rotated = await c.run(['certs', 'rotate-ca', '--ca', 'etcd', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    assertEnvelope('certs rotate-ca', rotated.json);
    const result = (rotated.json as { result: Rotated }).result;
    expect(result).toMatchObject({ operation: 'rotate-ca', ca: 'etcd' });
    expect(result.newCa.serial).not.toBe(oldSerial);
    expect(result.reissued).toEqual(expect.arrayContaining(['etcd-client', 'rotate-master/etcd-server']));

    const after = await c.run(['certs', 'check', '--json']);
    expect(after.code, after.stderr).toBe(0);
    const check = (after.json as { result: Check }).result;
    expect(check.certificates.find((entry) => entry.name === 'etcd-ca')?.serial).toBe(result.newCa.serial);
    expect(check.served).toHaveLength(4);
    expect(check.served.every((entry) => entry.matches)).toBe(true);
    expect((after.json as { warnings: unknown[] }).warnings).toEqual([]);
    expect(await c.etcd(['get', '--print-value-only', 'rotate/before'])).toBe('kept');
  }, 240_000);
});
