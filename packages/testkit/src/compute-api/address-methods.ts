import { alreadyExists, invalidField, resourceInUse, resourceNotReady } from './errors.js';
import { link, resourcePath } from './links.js';
import type { MethodDefinition } from './methods.js';
import { gceTimestamp, newFingerprint, newNumericId, type ProjectState } from './model.js';
import { allocateIp, firstUserPath, interfacesOf, ipsInUse, networkLink, subnetworkLink } from './network.js';
import {
  assertName,
  bodyObject,
  type Call,
  checkedLabels,
  existing,
  listResponse,
  referenceContext,
  regionParam,
  stringField,
} from './rules.js';

/** The instance or forwarding rule of the region that holds `ip` without a reservation (to promote it). */
function ephemeralHolder(
  project: ProjectState,
  region: string,
  ip: string,
  kind: 'INTERNAL' | 'EXTERNAL',
): string | undefined {
  for (const [path, resource] of project.resources) {
    if (
      kind === 'EXTERNAL' &&
      path.startsWith(`regions/${region}/forwardingRules/`) &&
      resource.IPAddress === ip
    ) {
      return String(resource.selfLink);
    }
    if (!path.startsWith('zones/') || !path.includes('/instances/')) continue;
    const zone = path.split('/')[1] ?? '';
    if (!zone.startsWith(`${region}-`)) continue;
    for (const nic of interfacesOf(resource)) {
      if (kind === 'INTERNAL' && nic.networkIP === ip) return String(resource.selfLink);
      if (kind === 'EXTERNAL' && (nic.accessConfigs ?? []).some((config) => config.natIP === ip)) {
        return String(resource.selfLink);
      }
    }
  }
  return undefined;
}

/** addresses (regional): insert, get, list, delete. */
export const addressMethods: MethodDefinition[] = [
  {
    kind: 'mutate',
    id: 'compute.addresses.insert',
    httpMethod: 'POST',
    pattern: '/regions/{region}/addresses',
    bodyType: 'Address',
    accept(call: Call) {
      const region = regionParam(call);
      const body = bodyObject(call);
      const name = assertName(body.name);
      const path = `regions/${region}/addresses/${name}`;
      const { project, server } = call;
      if (project.resources.has(path) || project.pendingInserts.has(path)) {
        throw alreadyExists(resourcePath(project.name, path));
      }
      const addressType = stringField(body, 'addressType') ?? 'EXTERNAL';
      if (addressType !== 'EXTERNAL' && addressType !== 'INTERNAL') {
        throw invalidField('resource.addressType', addressType, 'Must be one of EXTERNAL or INTERNAL.');
      }
      const labels = checkedLabels(body.labels);
      const subnetwork =
        addressType === 'INTERNAL'
          ? subnetworkLink(
              referenceContext(call),
              region,
              stringField(body, 'subnetwork'),
              'resource.subnetwork',
            )
          : undefined;
      const network =
        addressType === 'INTERNAL' && stringField(body, 'network') !== undefined
          ? networkLink(referenceContext(call), stringField(body, 'network'), 'resource.network')
          : undefined;
      const id = newNumericId();
      const requested = stringField(body, 'address');
      return {
        operationType: 'insert',
        scope: { kind: 'region', region },
        targetPath: path,
        targetId: id,
        effect: 'insert',
        prepare() {
          if (project.resources.has(path)) throw alreadyExists(resourcePath(project.name, path));
          let holder: string | undefined;
          if (requested !== undefined && requested !== '') {
            if (!call.server.ips.inPool(addressType, requested)) {
              throw invalidField(
                'resource.address',
                requested,
                addressType === 'INTERNAL'
                  ? 'Requested internal IP is outside the subnetwork CIDR range.'
                  : 'The requested external IP address is not available.',
              );
            }
            const reservedBy = project
              .list(`regions/${region}/addresses`)
              .find((a) => a.address === requested);
            if (reservedBy !== undefined) {
              throw invalidField(
                'resource.address',
                requested,
                'The address is already reserved by another address resource.',
              );
            }
            // Promoting an ephemeral IP: the address is born IN_USE by its current holder.
            holder = ephemeralHolder(project, region, requested, addressType);
            if (holder === undefined && ipsInUse(server).has(requested)) {
              throw invalidField(
                'resource.address',
                requested,
                'Specified IP address is in-use and would result in a conflict.',
              );
            }
          }
          return () => {
            const ip =
              requested !== undefined && requested !== '' ? requested : allocateIp(server, addressType);
            server.ips.claim(ip);
            project.resources.set(path, {
              kind: 'compute#address',
              id,
              creationTimestamp: gceTimestamp(new Date()),
              name,
              ...(stringField(body, 'description') === undefined ? {} : { description: body.description }),
              address: ip,
              status: holder === undefined ? 'RESERVED' : 'IN_USE',
              region: link(project.name, `regions/${region}`),
              selfLink: link(project.name, path),
              ...(holder === undefined ? {} : { users: [holder] }),
              ...(addressType === 'EXTERNAL'
                ? { networkTier: stringField(body, 'networkTier') ?? 'PREMIUM' }
                : {}),
              ...(Object.keys(labels).length === 0 ? {} : { labels }),
              labelFingerprint: newFingerprint(),
              addressType,
              ...(addressType === 'INTERNAL'
                ? { purpose: stringField(body, 'purpose') ?? 'GCE_ENDPOINT' }
                : {}),
              ...(subnetwork === undefined ? {} : { subnetwork }),
              ...(network === undefined ? {} : { network }),
            });
          };
        },
      };
    },
  },
  {
    kind: 'read',
    id: 'compute.addresses.get',
    httpMethod: 'GET',
    pattern: '/regions/{region}/addresses/{address}',
    run: (call) =>
      structuredClone(existing(call, `regions/${regionParam(call)}/addresses/${call.params.address}`)),
  },
  {
    kind: 'read',
    id: 'compute.addresses.list',
    httpMethod: 'GET',
    pattern: '/regions/{region}/addresses',
    run(call) {
      const collection = `regions/${regionParam(call)}/addresses`;
      return listResponse(call, {
        kind: 'compute#addressList',
        collection,
        items: structuredClone(call.project.list(collection)),
      });
    },
  },
  {
    kind: 'mutate',
    id: 'compute.addresses.delete',
    httpMethod: 'DELETE',
    pattern: '/regions/{region}/addresses/{address}',
    accept(call: Call) {
      const region = regionParam(call);
      const path = `regions/${region}/addresses/${call.params.address}`;
      const { project } = call;
      const address = existing(call, path);
      if (project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(project.name, path));
      const check = () => {
        const current = existing(call, path);
        const user = firstUserPath(current);
        if (user !== undefined) throw resourceInUse('address', resourcePath(project.name, path), user);
      };
      return {
        operationType: 'delete',
        scope: { kind: 'region', region },
        targetPath: path,
        targetId: String(address.id),
        effect: 'delete',
        prepare() {
          check();
          return () => {
            project.resources.delete(path);
          };
        },
      };
    },
  },
];
