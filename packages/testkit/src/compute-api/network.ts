import { ComputeApiError, invalidField } from './errors.js';
import type { AddressKind } from './ip-pool.js';
import { link, type ReferenceContext, resolveReference } from './links.js';
import type { Json, ProjectState, ServerContext } from './model.js';
import { type Call, referenceContext } from './rules.js';

/**
 * Who holds which IP: reserved addresses (`users`), instances' internal IPs and NAT IPs, forwarding
 * rules' IPs. GCE keeps an address's `status`/`users` right as instances and forwarding rules come and
 * go; these helpers are the one place that does it here.
 */

/** A network interface as stored on an instance. */
export interface NetworkInterfaceJson {
  kind: 'compute#networkInterface';
  name: string;
  network: string;
  subnetwork: string;
  networkIP: string;
  accessConfigs?: AccessConfigJson[];
  fingerprint: string;
  stackType: string;
}

/** An access config as stored on an instance; `natIP` is absent while a stopped instance has an ephemeral one. */
export interface AccessConfigJson {
  kind: 'compute#accessConfig';
  type: string;
  name: string;
  natIP?: string;
  networkTier: string;
}

/** The network interfaces of an instance's JSON. */
export function interfacesOf(instance: Json): NetworkInterfaceJson[] {
  return (instance.networkInterfaces as NetworkInterfaceJson[] | undefined) ?? [];
}

/** Every IP some resource of any project holds right now. */
export function ipsInUse(server: ServerContext): Set<string> {
  const ips = new Set<string>();
  for (const project of server.projects.values()) {
    for (const [path, resource] of project.resources) {
      if (/\/addresses\//.test(path) && typeof resource.address === 'string') ips.add(resource.address);
      if (/\/forwardingRules\//.test(path) && typeof resource.IPAddress === 'string')
        ips.add(resource.IPAddress);
      if (/\/instances\//.test(path)) {
        for (const nic of interfacesOf(resource)) {
          ips.add(nic.networkIP);
          for (const config of nic.accessConfigs ?? []) if (config.natIP !== undefined) ips.add(config.natIP);
        }
      }
    }
  }
  return ips;
}

/** A fresh IP of `kind`, one nothing holds and the server never handed out before. */
export function allocateIp(server: ServerContext, kind: AddressKind): string {
  const used = ipsInUse(server);
  return server.ips.allocate(kind, (ip) => used.has(ip));
}

/** The reserved address of a region that has this IP, if any. */
export function reservedAddressWithIp(project: ProjectState, region: string, ip: string): Json | undefined {
  return project.list(`regions/${region}/addresses`).find((address) => address.address === ip);
}

/** The reserved address (`regions/r/addresses/a`) a name, path or URL refers to, if it exists. */
export function addressByReference(call: Call, region: string, reference: string): Json | undefined {
  const { project } = call;
  const resolved = resolveReference(reference, referenceContext(call), `regions/${region}/addresses`);
  if (resolved === undefined || resolved.project !== project.name) return undefined;
  return project.resources.get(resolved.path);
}

/**
 * Checks that `ip`, given for `field`, may be taken by a new user: a reserved address of `kind` in the
 * region that is RESERVED (then returned, to be claimed), or, when `allowUnreserved`, a free IP of the
 * pool. Throws GCE's 400s otherwise.
 */
export function checkRequestedIp(options: {
  server: ServerContext;
  project: ProjectState;
  region: string;
  ip: string;
  kind: AddressKind;
  field: string;
  allowUnreserved: boolean;
}): Json | undefined {
  const { project, region, ip, kind, field } = options;
  const reserved = reservedAddressWithIp(project, region, ip);
  if (reserved !== undefined) {
    if ((reserved.addressType ?? 'EXTERNAL') !== kind) {
      throw invalidField(field, ip, `The address is a reserved ${String(reserved.addressType)} address.`);
    }
    if (reserved.status !== 'RESERVED') {
      throw invalidField(field, ip, 'Specified IP address is in-use and would result in a conflict.');
    }
    return reserved;
  }
  if (!options.allowUnreserved) {
    throw invalidField(
      field,
      ip,
      `The specified external IP address '${ip}' was not found in region '${region}'.`,
    );
  }
  if (!options.server.ips.inPool(kind, ip)) {
    throw invalidField(field, ip, 'Requested internal IP is outside the subnetwork CIDR range.');
  }
  if (ipsInUse(options.server).has(ip)) {
    throw new ComputeApiError({
      status: 400,
      message: `IP '${ip}' is already being used by another resource.`,
      reason: 'invalid',
      operationCode: 'IP_IN_USE_BY_ANOTHER_RESOURCE',
    });
  }
  return undefined;
}

/** Marks a reserved address as used by `userLink` (IN_USE). */
export function claimAddress(address: Json, userLink: string): void {
  const users = (address.users as string[] | undefined) ?? [];
  if (!users.includes(userLink)) users.push(userLink);
  address.users = users;
  address.status = 'IN_USE';
}

/** Lets go of `ip` for `userLink`: the reserved address that has it drops the user (RESERVED when none is left). */
export function releaseIp(
  project: ProjectState,
  region: string,
  ip: string | undefined,
  userLink: string,
): void {
  if (ip === undefined) return;
  const address = reservedAddressWithIp(project, region, ip);
  if (address === undefined) return;
  const users = ((address.users as string[] | undefined) ?? []).filter((user) => user !== userLink);
  if (users.length === 0) {
    delete address.users;
    address.status = 'RESERVED';
  } else {
    address.users = users;
  }
}

/** `users[0]` of a resource as a `projects/...` path, for GCE's "already being used by" messages. */
export function firstUserPath(resource: Json): string | undefined {
  const user = ((resource.users as string[] | undefined) ?? [])[0];
  if (user === undefined) return undefined;
  const resolved = resolveReference(user, { project: '' });
  return resolved === undefined ? user : `projects/${resolved.project}/${resolved.path}`;
}

/** The default network and the region's default subnetwork, as links. */
export function defaultNetwork(project: string): string {
  return link(project, 'global/networks/default');
}

/** `regions/<r>/subnetworks/<name>` as a link; 400 for a subnetwork in another region. */
export function subnetworkLink(
  context: ReferenceContext,
  region: string,
  given: string | undefined,
  field: string,
): string {
  if (given === undefined || given === '') {
    return link(context.project, `regions/${region}/subnetworks/default`);
  }
  const resolved = resolveReference(given, context, `regions/${region}/subnetworks`);
  const parts = resolved?.path.split('/') ?? [];
  if (resolved === undefined || parts[0] !== 'regions' || parts[2] !== 'subnetworks' || parts.length !== 4) {
    throw invalidField(field, given, 'The subnetwork resource is not a valid subnetwork reference.');
  }
  if (parts[1] !== region) {
    throw invalidField(field, given, `Subnetwork must be in region '${region}'.`);
  }
  return link(resolved.project, resolved.path);
}

/** A network reference as a link (`global/networks/<n>`); the default network when none is given. */
export function networkLink(context: ReferenceContext, given: string | undefined, field: string): string {
  if (given === undefined || given === '') return defaultNetwork(context.project);
  const resolved = resolveReference(given, context, 'global/networks');
  if (resolved === undefined || !/^global\/networks\/[^/]+$/.test(resolved.path)) {
    throw invalidField(field, given, 'The network resource is not a valid network reference.');
  }
  return link(resolved.project, resolved.path);
}
