// `hacp certs rotate-ca` with the built CLI and real processes: an unknown CA name is refused with
// the state folder unchanged; `--ca front-proxy` on this etcd-only cluster rotates that CA in the PKI
// and on the replicas; `--ca etcd` leaves both replicas serving certificates of the new etcd CA,
// which `certs check` reports, and the JSON follows its schema.
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
  it('refuses an unknown CA (exit 2, nothing changed), rotates the front-proxy CA, then the etcd CA onto both replicas', async () => {
    const c = clusterCli(stateDir.dir, 'rotate');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b']);
    await c.etcd(['put', 'rotate/before', 'kept']);
    const checked = await c.run(['certs', 'check', '--json']);
    const before = (checked.json as { result: Check }).result;
    const serialOf = (check: Check, name: string) =>
      check.certificates.find((entry) => entry.name === name)?.serial;
    const oldSerial = serialOf(before, 'etcd-ca');

    const snapshot = snapshotTree(stateDir.dir);
    const refused = await c.run(['certs', 'rotate-ca', '--ca', 'kubernetes', '--json']);
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(snapshotTree(stateDir.dir)).toEqual(snapshot);

    const frontProxy = await c.run(['certs', 'rotate-ca', '--ca', 'front-proxy', '--json']);
    expect(frontProxy.code, frontProxy.stderr).toBe(0);
    assertEnvelope('certs rotate-ca', frontProxy.json);
    const proxied = (frontProxy.json as { result: Rotated }).result;
    expect(proxied).toMatchObject({ operation: 'rotate-ca', ca: 'front-proxy' });
    expect(proxied.newCa.serial).not.toBe(serialOf(before, 'front-proxy-ca'));
    expect(proxied.reissued).toEqual(['front-proxy-client']);
    const middle = (await c.run(['certs', 'check', '--json'])).json as { result: Check };
    expect(serialOf(middle.result, 'front-proxy-ca')).toBe(proxied.newCa.serial);
    expect(serialOf(middle.result, 'etcd-ca')).toBe(oldSerial);
    expect(serialOf(middle.result, 'ca')).toBe(serialOf(before, 'ca'));

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
  }, 420_000);
});
