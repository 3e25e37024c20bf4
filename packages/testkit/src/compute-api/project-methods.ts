import { link } from './links.js';
import type { MethodDefinition } from './methods.js';
import { type Json, newFingerprint, type ProjectState, regionOf } from './model.js';
import {
  assertFingerprint,
  bodyObject,
  type Call,
  checkedMetadataItems,
  listResponse,
  METADATA_FINGERPRINT_MESSAGE,
  metadataJson,
  regionParam,
  zoneParam,
} from './rules.js';

/** Stable ids for zones and regions, derived from their names (GCE's never change either). */
function stableId(name: string): string {
  let hash = 2166136261n;
  for (const char of name) hash = ((hash ^ BigInt(char.charCodeAt(0))) * 16777619n) % 9_000_000_000_000n;
  return String(1_000_000_000_000n + hash);
}

const CREATED = '1969-12-31T16:00:00.000-08:00';

function zoneJson(project: string, zone: string): Json {
  return {
    kind: 'compute#zone',
    id: stableId(zone),
    creationTimestamp: CREATED,
    name: zone,
    description: zone,
    status: 'UP',
    region: link(project, `regions/${regionOf(zone)}`),
    selfLink: link(project, `zones/${zone}`),
    availableCpuPlatforms: ['Intel Broadwell', 'Intel Cascade Lake', 'AMD Milan'],
    supportsPzs: false,
  };
}

function regionJson(project: string, region: string, zones: readonly string[]): Json {
  return {
    kind: 'compute#region',
    id: stableId(region),
    creationTimestamp: CREATED,
    name: region,
    description: region,
    status: 'UP',
    zones: zones.filter((zone) => regionOf(zone) === region).map((zone) => link(project, `zones/${zone}`)),
    quotas: [
      { metric: 'CPUS', limit: 24, usage: 0 },
      { metric: 'IN_USE_ADDRESSES', limit: 8, usage: 0 },
      { metric: 'STATIC_ADDRESSES', limit: 8, usage: 0 },
    ],
    selfLink: link(project, `regions/${region}`),
    supportsPzs: false,
  };
}

/** The project resource: its common instance metadata is the state store hacp relies on. */
export function projectJson(project: ProjectState): Json {
  return {
    kind: 'compute#project',
    id: project.id,
    creationTimestamp: project.creationTimestamp,
    name: project.name,
    commonInstanceMetadata: structuredClone(project.commonMetadata),
    quotas: [],
    selfLink: link(project.name, ''),
    defaultServiceAccount: `${project.id.slice(0, 12)}-compute@developer.gserviceaccount.com`,
    xpnProjectStatus: 'UNSPECIFIED_XPN_PROJECT_STATUS',
    defaultNetworkTier: 'PREMIUM',
    vmDnsSetting: 'ZONAL_ONLY',
  };
}

/** projects.get/setCommonInstanceMetadata, zones.get/list, regions.get/list. */
export const projectMethods: MethodDefinition[] = [
  {
    kind: 'read',
    id: 'compute.projects.get',
    httpMethod: 'GET',
    pattern: '',
    run: (call) => projectJson(call.project),
  },
  {
    kind: 'mutate',
    id: 'compute.projects.setCommonInstanceMetadata',
    httpMethod: 'POST',
    pattern: '/setCommonInstanceMetadata',
    bodyType: 'Metadata',
    accept(call: Call) {
      const { project } = call;
      const body = bodyObject(call);
      const items = checkedMetadataItems(body.items, 'resource.items');
      // Compare-and-swap: checked against the newest accepted write, so of two writers holding the same
      // fingerprint exactly one is accepted, even before the first write's operation completes.
      assertFingerprint(body.fingerprint, project.acceptedMetadataFingerprint, METADATA_FINGERPRINT_MESSAGE);
      const fingerprint = newFingerprint();
      project.acceptedMetadataFingerprint = fingerprint;
      return {
        operationType: 'compute.projects.setCommonInstanceMetadata',
        scope: { kind: 'global' },
        targetPath: '',
        targetId: project.id,
        prepare: () => () => {
          project.commonMetadata = metadataJson(items, fingerprint);
        },
        settle(applied) {
          if (!applied && project.acceptedMetadataFingerprint === fingerprint) {
            project.acceptedMetadataFingerprint = project.commonMetadata.fingerprint;
          }
        },
      };
    },
  },
  {
    kind: 'read',
    id: 'compute.zones.list',
    httpMethod: 'GET',
    pattern: '/zones',
    run: (call) =>
      listResponse(call, {
        kind: 'compute#zoneList',
        collection: 'zones',
        items: call.server.zones.map((zone) => zoneJson(call.project.name, zone)),
      }),
  },
  {
    kind: 'read',
    id: 'compute.zones.get',
    httpMethod: 'GET',
    pattern: '/zones/{zone}',
    run: (call) => zoneJson(call.project.name, zoneParam(call)),
  },
  {
    kind: 'read',
    id: 'compute.regions.list',
    httpMethod: 'GET',
    pattern: '/regions',
    run: (call) =>
      listResponse(call, {
        kind: 'compute#regionList',
        collection: 'regions',
        items: call.server.regions.map((region) => regionJson(call.project.name, region, call.server.zones)),
      }),
  },
  {
    kind: 'read',
    id: 'compute.regions.get',
    httpMethod: 'GET',
    pattern: '/regions/{region}',
    run: (call) => regionJson(call.project.name, regionParam(call), call.server.zones),
  },
];
