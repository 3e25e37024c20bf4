import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  assertZone,
  ErrorCode,
  HacpError,
  type InstanceRef,
  throwIfAborted,
  type ZoneInfo,
} from '@hacp/core';
import type { ProcessInstances } from '@hacp/core/provider-kit';
import type { LocalContext } from './context.js';

/** The zones the local provider lists (any `<region>-<letter>` is accepted too). */
export const LOCAL_ZONES: readonly ZoneInfo[] = Object.freeze([
  { name: 'local-a', region: 'local' },
  { name: 'local-b', region: 'local' },
  { name: 'local-c', region: 'local' },
]);

const LOCAL_ZONE = /^[a-z][a-z0-9-]*-[a-z]$/;

/** Zones are `<region>-<letter>`: local-a, or europe-west1-b. @throws HacpError ZONE_INVALID */
export function assertLocalZone(zone: unknown): asserts zone is string {
  assertZone(zone as string);
  if (!LOCAL_ZONE.test(zone as string)) {
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `"${String(zone)}" is not a zone of the local provider: a zone is a region plus a letter, such as local-a.`,
      actions: ['Use local-a, local-b or local-c.'],
      details: { zone: String(zone) },
    });
  }
}

/** The zones `hacp zone fail` failed, kept in `local/zones.json`. */
export interface FailedZones {
  /** The failed zones, sorted. */
  list(): Promise<string[]>;
  /** @throws HacpError UNAVAILABLE (retryable) when `zone` is failed: nothing may start there. */
  assertUp(zone: string): Promise<void>;
  /**
   * Stops every process of the replicas in the zone (as an outage would) and refuses new instances
   * there until restored. Returns the replicas it stopped; one an operator stopped stays as it is.
   */
  fail(zone: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** Allows the zone again and starts the replicas `fail` stopped; returns them. */
  restore(zone: string, options?: { signal?: AbortSignal }): Promise<string[]>;
}

/** The failed zones of the local provider, stopping and starting its instances through `instances`. */
export function createFailedZones(context: LocalContext, instances: () => ProcessInstances): FailedZones {
  const { cloud } = context;
  const file = join(context.recordsDir, 'zones.json');

  async function failed(): Promise<Set<string>> {
    return new Set((await cloud.files.read<{ failed?: string[] }>(file))?.failed ?? []);
  }

  async function change(zone: string, fail: boolean): Promise<void> {
    await cloud.prepare();
    await cloud.locked(async () => {
      const zones = await failed();
      if (fail) zones.add(zone);
      else zones.delete(zone);
      if (zones.size === 0) await rm(file, { force: true });
      else await cloud.files.write(file, { failed: [...zones].sort() });
    });
  }

  const inZone = async (zone: string) =>
    (await instances().records()).filter((record) => record.zone === zone);
  const refOf = (record: InstanceRef): InstanceRef => ({ name: record.name, zone: record.zone });

  return {
    async list() {
      return [...(await failed())].sort();
    },
    async assertUp(zone) {
      if ((await failed()).has(zone)) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `Zone ${zone} is failed (hacp zone fail): nothing can start there until it is restored.`,
          actions: [`Restore it: hacp zone restore ${zone}.`, 'Or use another zone.'],
          details: { zone },
          retryable: true,
        });
      }
    },
    async fail(zone, options) {
      assertLocalZone(zone);
      throwIfAborted(options?.signal);
      await change(zone, true);
      const stopped: string[] = [];
      for (const record of await inZone(zone)) {
        if (record.stopped === 'instance' || record.state === 'creating') continue;
        await instances().stopInstance(refOf(record), 'zone');
        stopped.push(record.name);
      }
      cloud.logger.warn('zone failed', { zone, stopped });
      return stopped;
    },
    async restore(zone, options) {
      assertLocalZone(zone);
      throwIfAborted(options?.signal);
      await change(zone, false);
      const started: string[] = [];
      for (const record of await inZone(zone)) {
        if (record.stopped !== 'zone') continue;
        await instances().startInstance(refOf(record));
        started.push(record.name);
      }
      cloud.logger.info('zone restored', { zone, started });
      return started;
    },
  };
}
