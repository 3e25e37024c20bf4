/** Whether a zone can take a new replica now: the provider offers it, and it is not down. */
import { ErrorCode, HacpError, type ProviderV1 } from '@hacp/core';

/**
 * Refuses a zone the provider does not offer, or one it reports down (GCE's `DOWN`, the local
 * provider's `hacp zone fail`), before anything is made there.
 *
 * @throws HacpError ZONE_INVALID for a zone the provider does not offer; UNAVAILABLE (retryable)
 *   for one that is down, naming the zones that are up.
 */
export async function assertZoneUsable(
  provider: ProviderV1,
  zone: string,
  signal?: AbortSignal,
): Promise<void> {
  const zones = await provider.zones.list(signal ? { signal } : {});
  if (!zones.some((offered) => offered.name === zone)) {
    const names = zones.map((offered) => offered.name).join(', ');
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `Provider ${provider.name} has no zone ${zone}; it offers ${names}.`,
      actions: [`Pick one of: ${names}.`],
      details: { zone },
    });
  }
  if (zones.some((offered) => offered.name === zone && offered.status === 'down')) {
    const up = zones.filter((offered) => offered.status !== 'down').map((offered) => offered.name);
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Zone ${zone} is down: nothing can be created there until it is up again. Nothing was changed.`,
      actions: [
        ...(provider.name === 'local' ? [`Run \`hacp zone restore ${zone}\` to bring it back.`] : []),
        ...(up.length > 0 ? [`Or pick a zone that is up: ${up.join(', ')}.`] : []),
      ],
      details: { zone },
      retryable: true,
    });
  }
}
