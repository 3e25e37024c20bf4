import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { KUBERNETES_BINARIES } from './source.js';

const run = promisify(execFile);

/** How big a fake binary is: several progress steps, and more than one socket write. */
const FAKE_BINARY_PADDING_BYTES = 3 * 1024 * 1024;

/**
 * A fake Kubernetes binary: a shell script that prints `Kubernetes <version>` for `--version`,
 * padded with random comment lines the shell never reads, so that downloads take several chunks and
 * progress steps even gzip'd in a tarball.
 */
export async function writeFakeBinary(path: string, version: string, name = 'kube-apiserver'): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const lines = Array.from(
    { length: FAKE_BINARY_PADDING_BYTES / 1024 },
    () => `# ${randomBytes(765).toString('base64')}\n`,
  );
  const padding = lines.join('');
  await writeFile(
    path,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Kubernetes ${version}"; exit 0; fi\necho "fake ${name}"\nexit 0\n${padding}`,
  );
  await chmod(path, 0o755);
}

const sha256Of = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

/** A release location on disk, laid out like https://dl.k8s.io/release. */
export interface FakeRelease {
  /** The folder (`<dir>/<version>/...`, `<dir>/stable-1.23.txt`, ...). */
  dir: string;
  /** `file://<dir>`. */
  fileUrl: string;
  /** The SHA-256 of each published file, by its path under `dir`. */
  digests: Map<string, string>;
  /** Removes the folder. */
  remove(): Promise<void>;
}

/**
 * Builds a release location: for each version, the per-binary files (`bin/linux/<arch>/<binary>`
 * with `.sha256` as `<hex>  <name>`), the server tarball (made with the system `tar -czf`, with a
 * `.sha256` holding the hex digest alone), or both; and the marker files, e.g.
 * `{ 'stable-1.23': 'v1.23.16' }`.
 */
export async function makeFakeRelease(options: {
  versions: Record<string, { layouts: readonly ('binaries' | 'tarball')[] }>;
  markers?: Record<string, string>;
  arch?: string;
}): Promise<FakeRelease> {
  const dir = await mkdtemp(join(tmpdir(), 'hacp-fake-release-'));
  const arch = options.arch ?? 'amd64';
  const digests = new Map<string, string>();
  const publish = async (relative: string, withName: boolean) => {
    const digest = await sha256Of(join(dir, relative));
    digests.set(relative, digest);
    const name = relative.split('/').pop() as string;
    await writeFile(join(dir, `${relative}.sha256`), withName ? `${digest}  ${name}\n` : `${digest}\n`);
  };
  for (const [version, { layouts }] of Object.entries(options.versions)) {
    if (layouts.includes('binaries')) {
      for (const binary of KUBERNETES_BINARIES) {
        const relative = `${version}/bin/linux/${arch}/${binary}`;
        await writeFakeBinary(join(dir, relative), version, binary);
        await publish(relative, true);
      }
    }
    if (layouts.includes('tarball')) {
      const stage = await mkdtemp(join(tmpdir(), 'hacp-fake-tarball-'));
      for (const binary of KUBERNETES_BINARIES) {
        await writeFakeBinary(join(stage, 'kubernetes', 'server', 'bin', binary), version, binary);
      }
      // The official tarball holds more than the three binaries: a file before and after them.
      await writeFile(join(stage, 'kubernetes', 'README.md'), 'fake release\n');
      await writeFile(join(stage, 'kubernetes', 'server', 'bin', 'kubectl'), 'not extracted\n');
      const relative = `${version}/kubernetes-server-linux-${arch}.tar.gz`;
      await mkdir(join(dir, version), { recursive: true });
      await run('tar', ['-czf', join(dir, relative), '-C', stage, 'kubernetes']);
      await rm(stage, { recursive: true, force: true });
      await publish(relative, false);
    }
  }
  for (const [name, version] of Object.entries(options.markers ?? {})) {
    await writeFile(join(dir, `${name}.txt`), `${version}\n`);
  }
  return {
    dir,
    fileUrl: pathToFileURL(dir).href,
    digests,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** What the release server does wrong, on purpose, by request path (under the location). */
export interface ReleaseServerFaults {
  /** Sends the full Content-Length, then closes the connection after half of the body. */
  truncate: Set<string>;
  /** Sends this many bytes of the body, then nothing more until the client or the server closes. */
  stallAfter: Map<string, number>;
}

/** An HTTP server on 127.0.0.1 serving a FakeRelease folder, with faults. */
export interface ReleaseServer {
  /** `http://127.0.0.1:<port>/release`: the location. */
  url: string;
  /** `http://127.0.0.1:<port>/moved/release`: answers 302 to the same file under `url`. */
  redirectingUrl: string;
  /** Each request's path under the location, in order. */
  requests: string[];
  faults: ReleaseServerFaults;
  close(): Promise<void>;
}

function sendFile(response: ServerResponse, path: string, size: number, limit: number | undefined): void {
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
  if (limit === undefined) {
    createReadStream(path).pipe(response);
    return;
  }
  const partial = createReadStream(path, { start: 0, end: Math.max(0, limit - 1) });
  partial.on('data', (chunk) => response.write(chunk));
  partial.on('end', () => response.emit('hacp-partial-sent'));
}

/** Starts a release server for `root` on 127.0.0.1 (a free port). */
export async function startReleaseServer(root: string): Promise<ReleaseServer> {
  const requests: string[] = [];
  const faults: ReleaseServerFaults = { truncate: new Set(), stallAfter: new Map() };
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    if (path.startsWith('/moved/release/')) {
      response.writeHead(302, { location: path.slice('/moved'.length) });
      response.end();
      return;
    }
    if (!path.startsWith('/release/') || path.split('/').includes('..')) {
      response.writeHead(404).end('not found\n');
      return;
    }
    const relative = path.slice('/release/'.length);
    requests.push(relative);
    const file = join(root, relative);
    void stat(file).then(
      (info) => {
        if (!info.isFile()) {
          response.writeHead(404).end('not found\n');
        } else if (faults.truncate.has(relative)) {
          sendFile(response, file, info.size, Math.floor(info.size / 2));
          response.once('hacp-partial-sent', () => response.socket?.end());
        } else if (faults.stallAfter.has(relative)) {
          sendFile(response, file, info.size, faults.stallAfter.get(relative));
        } else {
          sendFile(response, file, info.size, undefined);
        }
      },
      () => response.writeHead(404).end('not found\n'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/release`,
    redirectingUrl: `http://127.0.0.1:${port}/moved/release`,
    requests,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Everything in `<cacheDir>/kubernetes`, staging folders included: what a refusal must not leave. */
export async function cacheEntries(cacheDir: string): Promise<string[]> {
  return readdir(join(cacheDir, 'kubernetes')).catch(() => []);
}
