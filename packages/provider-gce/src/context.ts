/**
 * What every part of the provider shares: the Compute session, the resolved settings, the logger
 * and the project's zones (read once), with the zone rules applied before any mutating call.
 */
import {
  assertZone,
  ErrorCode,
  HacpError,
  type Logger,
  type MutationOptions,
  regionOfZone,
  type ZoneInfo,
} from '@hacp/core';
import {
  type ComputeSession,
  type MutationCallOptions,
  type OperationScope,
  PAGED_NO_GAX_RETRY,
  type RetrySettings,
} from './compute.js';
import type { RegistryMirrors, ReplicaImages } from './startup/index.js';

/** How hacp reaches a replica's ports from this machine. */
export type ReachMode = 'iap' | 'ssh' | 'direct';

/** The provider's settings with every default applied (no credentials). */
export interface ResolvedGceSettings {
  project: string;
  region?: string;
  network: string;
  subnetwork: string;
  machineType: string;
  diskType: string;
  diskSizeGb: number;
  image: string;
  /** The fallback of replicas whose NodeConfig names no `kubernetesVersion`. */
  kubernetesVersion: string;
  /** Overrides of the replicas' images (./startup/images.ts). */
  images: ReplicaImages;
  /** containerd's registry mirrors on every replica, each mirror a URL. */
  registryMirrors: RegistryMirrors;
  reach: ReachMode;
  gcloud?: string;
  retry: RetrySettings;
  /** How long a read of an instance answers this provider's own look-ups of it (0: never). */
  reuseReadsForMs: number;
}

/** The parts every resource group works with. */
export interface GceContext {
  session: ComputeSession;
  settings: ResolvedGceSettings;
  logger: Logger;
  zones: ZoneCatalog;
  /** `projects/<p>/global/networks/<network>` */
  networkUrl: string;
  /** `projects/<p>/regions/<region>/subnetworks/<subnetwork>` */
  subnetworkUrl(region: string): string;
  /** The options of one mutating call, named by what it does. */
  mutation(call: string, scope: OperationScope, options: MutationOptions): MutationCallOptions;
}

/** The project's zones, read once per provider, and the zone rules. */
export interface ZoneCatalog {
  /** The zones the provider offers: all of the project's, or `region`'s only. */
  list(signal?: AbortSignal): Promise<ZoneInfo[]>;
  /**
   * A zone replicas may go to. @throws HacpError ZONE_INVALID (malformed or not offered),
   * ZONE_NOT_IN_REGION (outside the configured region)
   */
  assertOffered(zone: string, signal?: AbortSignal): Promise<void>;
}

/** The zone catalog over `zones.list`, read on first use. */
export function createZoneCatalog(options: {
  session: ComputeSession;
  region: string | undefined;
}): ZoneCatalog {
  const { session, region } = options;
  let all: Promise<ZoneInfo[]> | undefined;

  function projectZones(signal?: AbortSignal): Promise<ZoneInfo[]> {
    if (all === undefined) {
      const reading = session.read({ call: `list zones projects/${session.project}`, signal }, async () => {
        const zones: ZoneInfo[] = [];
        for await (const zone of session
          .clients()
          .zones.listAsync({ project: session.project }, PAGED_NO_GAX_RETRY)) {
          if (typeof zone.name === 'string' && zone.name.length > 0) {
            // GCE's zone status: DOWN while Google takes the zone out (an outage, a turn-down).
            zones.push({
              name: zone.name,
              region: regionOfZone(zone.name),
              ...(zone.status === 'DOWN' ? { status: 'down' as const } : {}),
            });
          }
        }
        return zones.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      });
      // A failed read is not cached: the next call asks again.
      all = reading;
      reading.catch(() => {
        if (all === reading) all = undefined;
      });
    }
    return all;
  }

  return {
    async list(signal) {
      const zones = await projectZones(signal);
      return zones
        .filter((zone) => region === undefined || zone.region === region)
        .map((zone) => ({ ...zone }));
    },
    async assertOffered(zone, signal) {
      assertZone(zone);
      const zoneRegion = regionOfZone(zone);
      if (region !== undefined && zoneRegion !== region) {
        throw new HacpError({
          code: ErrorCode.ZONE_NOT_IN_REGION,
          message: `Zone ${zone} is in region ${zoneRegion}, not in ${region}, where this provider places replicas.`,
          actions: [`Pick a zone of ${region}, such as ${region}-b.`],
          details: { zone, region, zoneRegion },
        });
      }
      const zones = await projectZones(signal);
      if (!zones.some((known) => known.name === zone)) {
        const ofRegion = zones.filter((known) => known.region === zoneRegion).map((known) => known.name);
        throw new HacpError({
          code: ErrorCode.ZONE_INVALID,
          message: `Project ${session.project} has no zone ${zone}.`,
          actions: [
            ofRegion.length > 0
              ? `Use one of ${ofRegion.join(', ')}.`
              : `List the zones: gcloud compute zones list --project ${session.project}`,
          ],
          details: { zone, project: session.project },
        });
      }
    },
  };
}
