import {
  assertRegionName,
  assertZone,
  ErrorCode,
  HacpError,
  invalidArgument,
  type ZoneInfo,
} from '@hacp/core';

/** The zones Example Cloud offers, in two regions (a region is the zone without its last `-x`). */
export const EXAMPLE_ZONES: readonly ZoneInfo[] = Object.freeze(
  [
    { name: 'moon-east-a', region: 'moon-east' },
    { name: 'moon-east-b', region: 'moon-east' },
    { name: 'moon-east-c', region: 'moon-east' },
    { name: 'moon-west-a', region: 'moon-west' },
    { name: 'moon-west-b', region: 'moon-west' },
  ].map((zone) => Object.freeze(zone)),
);

/** The regions of EXAMPLE_ZONES. */
export const EXAMPLE_REGIONS: readonly string[] = Object.freeze([
  ...new Set(EXAMPLE_ZONES.map((zone) => zone.region)),
]);

const zoneNames = () => EXAMPLE_ZONES.map((zone) => zone.name).join(', ');

/**
 * A zone Example Cloud offers.
 *
 * @throws HacpError ZONE_INVALID for a malformed zone or one it does not offer.
 */
export function assertExampleZone(zone: unknown): asserts zone is string {
  assertZone(zone as string);
  if (!EXAMPLE_ZONES.some((offered) => offered.name === zone)) {
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `Example Cloud has no zone ${String(zone)}.`,
      actions: [`Use one of its zones: ${zoneNames()}.`],
      details: { zone: String(zone) },
    });
  }
}

/**
 * A region Example Cloud has.
 *
 * @throws HacpError INVALID_ARGUMENT (`region`) for a malformed region or one it does not have.
 */
export function assertExampleRegion(region: unknown): asserts region is string {
  assertRegionName(region);
  if (!EXAMPLE_REGIONS.includes(region)) {
    throw invalidArgument({
      field: 'region',
      value: region,
      message: `Example Cloud has no region ${region}.`,
      actions: [`Use one of its regions: ${EXAMPLE_REGIONS.join(', ')}.`],
    });
  }
}
