// The kubeconfigs as client-go reads and uses them: the real kubectl parses each one and calls a TLS
// server on 127.0.0.1 that serves the replica's apiserver certificate and, like kube-apiserver,
// accepts only client certificates from the cluster CA and reports who the caller is.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaNodeFiles } from './files.js';
import { clientKubeconfig } from './kubeconfig.js';
import { createClusterPki, issueReplicaCerts, withReplica } from './pki.js';
import type { ClusterPki } from './types.js';

const run = promisify(execFile);

const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
})();

interface Caller {
  commonName: string;
  organizations: string[];
}

describe.skipIf(!kubectl)('kubeconfigs read and used by kubectl (skipped: kubectl is not installed)', () => {
  let dir: string;
  let pki: ClusterPki;
  let other: ClusterPki;
  let server: Server;
  let apiserverUrl: string;
  const callers: Caller[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-certs-kubectl-'));
    const bare = await createClusterPki({ clusterName: 'demo', endpointAddress: '34.1.2.3' });
    const replica = { replicaName: 'demo-master', hostname: 'demo-master', internalIp: '127.0.0.1' };
    pki = withReplica(bare, await issueReplicaCerts(bare, replica));
    const otherBare = await createClusterPki({ clusterName: 'demo', endpointAddress: '34.1.2.3' });
    other = withReplica(otherBare, await issueReplicaCerts(otherBare, replica));

    const apiserver = pki.replicas['demo-master']!.apiserver;
    server = createServer(
      {
        cert: apiserver.certPem,
        key: apiserver.keyPem.reveal(),
        ca: pki.ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (request, response) => {
        const subject = (request.socket as TLSSocket).getPeerCertificate().subject;
        const caller: Caller = {
          commonName: String(subject.CN),
          organizations: subject.O === undefined ? [] : [subject.O].flat().map(String),
        };
        callers.push(caller);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ path: request.url, ...caller }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiserverUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a kubeconfig 0600 under the test folder and runs kubectl with it, offline from any user config. */
  async function kubectlWith(name: string, contents: string, args: string[]) {
    const file = join(dir, name);
    writeFileSync(file, contents, { mode: 0o600 });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NO_PROXY: '*' };
    return run('kubectl', ['--kubeconfig', file, '--cache-dir', join(dir, 'cache'), ...args], {
      env,
      timeout: 60_000,
    });
  }

  function kubeconfigFile(pkiOf: ClusterPki, path: string): string {
    const file = replicaNodeFiles(pkiOf, 'demo-master', { apiserverUrl }).find(
      (entry) => entry.path === path,
    );
    if (file === undefined || typeof file.contents === 'string') throw new Error(`no Secret ${path}`);
    return file.contents.reveal();
  }

  it.each([
    ['controller-manager.conf', 'system:kube-controller-manager', []],
    ['scheduler.conf', 'system:kube-scheduler', []],
    ['addon-manager.conf', 'system:addon-manager', ['system:masters']],
  ])(
    '%s reaches the replica apiserver as %s, trusting it through the embedded CA',
    async (path, user, groups) => {
      const contents = kubeconfigFile(pki, path);
      const view = JSON.parse(
        (await kubectlWith(path, contents, ['config', 'view', '--raw', '-o', 'json'])).stdout,
      );
      expect(view.clusters.map((entry: { name: string }) => entry.name)).toEqual(['demo']);
      expect(view.clusters[0].cluster.server).toBe(apiserverUrl);
      expect(view.users.map((entry: { name: string }) => entry.name)).toEqual([user]);
      expect(view['current-context']).toBe(`${user}@demo`);
      expect(view.contexts[0].context).toEqual({ cluster: 'demo', user });

      const { stdout } = await kubectlWith(path, contents, ['get', '--raw', '/whoami']);
      expect(JSON.parse(stdout)).toEqual({ path: '/whoami', commonName: user, organizations: groups });
    },
  );

  it('the admin kubeconfig reaches it as kubernetes-admin in system:masters, under a quoted context name', async () => {
    const contents = clientKubeconfig(pki, { server: apiserverUrl, client: 'admin', contextName: 'true' });
    const view = JSON.parse(
      (await kubectlWith('admin.conf', contents, ['config', 'view', '-o', 'json'])).stdout,
    );
    expect(view['current-context']).toBe('true');
    expect(view.users[0].user['client-key-data']).toBe('DATA+OMITTED');
    const { stdout } = await kubectlWith('admin.conf', contents, ['get', '--raw', '/whoami']);
    expect(JSON.parse(stdout)).toMatchObject({
      commonName: 'kubernetes-admin',
      organizations: ['system:masters'],
    });
  });

  it("another cluster's kubeconfig of the same name gets nowhere: its CA does not trust this apiserver", async () => {
    const before = callers.length;
    const error = await kubectlWith('other.conf', kubeconfigFile(other, 'scheduler.conf'), [
      'get',
      '--raw',
      '/whoami',
    ]).then(
      () => undefined,
      (caught: { code?: number; stderr?: string }) => caught,
    );
    expect(error?.code).not.toBe(0);
    expect(error?.stderr).toContain('certificate signed by unknown authority');
    expect(callers).toHaveLength(before);
  });
});
