import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the guest services know of a VM, found by the VM's internal IP (the request's source). */
export interface GuestView {
  name: string;
  zone: string;
  id?: string;
  projectNumber?: string;
  networkIP: string;
  metadata: Readonly<Record<string, string>>;
}

/**
 * The HTTP services a VM's boot reaches, listening on the VPC's gateway:
 * - the metadata server (`/computeMetadata/v1/...`): like GCE's, it knows the caller by its source
 *   address, wants `Metadata-Flavor: Google` (403 without it) and answers the instance's custom
 *   metadata under `instance/attributes/<key>` (404 for a key it does not have), and its name,
 *   id, hostname, zone and internal IP;
 * - the release location the startup script downloads the kubelet from (`/release/v<version>/bin/
 *   linux/<arch>/kubelet` and its `.sha256`): every version is the kubelet stand-in, through a small
 *   wrapper that runs it with this machine's Node.
 */
export interface GuestServices {
  /** `http://<gateway>:<port>/computeMetadata/v1/instance/attributes` */
  readonly metadataUrl: string;
  /** `http://<gateway>:<port>/release` */
  readonly releaseUrl: string;
  /** Requests by path, for tests. */
  readonly requests: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const ATTRIBUTES = '/computeMetadata/v1/instance/attributes/';
const KUBELET = /^\/release\/v[0-9][0-9A-Za-z.+_-]*\/bin\/linux\/(amd64|arm64)\/kubelet(\.sha256)?$/;

function answer(response: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  response.writeHead(status, { 'content-type': type, 'metadata-flavor': 'Google' });
  response.end(body);
}

/** Starts the guest services on `host` (the VPC gateway). */
export async function startGuestServices(options: {
  host: string;
  /** The VM whose internal IP is `ip`, if any. */
  vmAt: (ip: string) => GuestView | undefined;
  /** The kubelet's command line: what the served `kubelet` runs, its arguments appended. */
  kubeletCommand: readonly string[];
}): Promise<GuestServices> {
  const quoted = options.kubeletCommand.map((part) => `'${part.replaceAll("'", `'\\''`)}'`).join(' ');
  const kubelet = `#!/bin/sh\n# The kubelet stand-in of the Compute API test server.\nexec ${quoted} "$@"\n`;
  const kubeletSha = createHash('sha256').update(kubelet).digest('hex');
  const requests = new Map<string, number>();

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://guest').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const release = KUBELET.exec(path);
    if (release !== null) {
      if (release[2] === '.sha256') answer(response, 200, `${kubeletSha}\n`);
      else answer(response, 200, kubelet, 'application/octet-stream');
      return;
    }
    if (!path.startsWith('/computeMetadata/v1/')) {
      answer(response, 404, 'Not Found\n');
      return;
    }
    if (request.headers['metadata-flavor'] !== 'Google') {
      answer(response, 403, 'Missing Metadata-Flavor:Google header.\n');
      return;
    }
    const vm = options.vmAt((request.socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
    if (vm === undefined) {
      answer(response, 404, 'Not Found\n');
      return;
    }
    const simple: Record<string, string> = {
      '/computeMetadata/v1/instance/name': vm.name,
      ...(vm.id === undefined ? {} : { '/computeMetadata/v1/instance/id': vm.id }),
      '/computeMetadata/v1/instance/hostname': `${vm.name}.${vm.zone}.c.internal`,
      '/computeMetadata/v1/instance/zone': `projects/${vm.projectNumber ?? '0'}/zones/${vm.zone}`,
      '/computeMetadata/v1/instance/network-interfaces/0/ip': vm.networkIP,
    };
    const value = path.startsWith(ATTRIBUTES) ? vm.metadata[path.slice(ATTRIBUTES.length)] : simple[path];
    if (value === undefined) answer(response, 404, 'Not Found\n');
    else answer(response, 200, value, 'application/text');
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://${options.host}:${port}`;
  return {
    metadataUrl: `${base}/computeMetadata/v1/instance/attributes`,
    releaseUrl: `${base}/release`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
