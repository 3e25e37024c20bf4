import { describe, expect, it } from 'vitest';
import {
  assertDerivedNamesFit,
  instanceLabels,
  instanceStatus,
  parseResourceUrl,
  stateItemOf,
} from './names.js';

describe('stateItemOf', () => {
  it('keeps a cluster’s records and its lock in one item, hacp-<cluster>', () => {
    expect(stateItemOf('hacp/clusters/prod/record')).toBe('hacp-prod');
    expect(stateItemOf('hacp/clusters/prod/journal/0007')).toBe('hacp-prod');
    expect(stateItemOf('hacp/clusters/prod')).toBe('hacp-prod');
    expect(stateItemOf('hacp-cluster-prod')).toBe('hacp-prod');
  });

  it('puts any other key in hacp-<its first segment>, sanitised to [a-z0-9-] and at most 60', () => {
    expect(stateItemOf('conf-3a9c1e/records/a')).toBe('hacp-conf-3a9c1e');
    expect(stateItemOf('conf-3a9c1e')).toBe('hacp-conf-3a9c1e');
    expect(stateItemOf('My Keys_v2/x')).toBe('hacp-my-keys-v2');
    expect(stateItemOf('/leading')).toBe('hacp-default');
    expect(stateItemOf(`${'a'.repeat(80)}/x`)).toBe(`hacp-${'a'.repeat(60)}`);
  });
});

describe('instanceStatus', () => {
  it.each([
    ['PROVISIONING', 'provisioning'],
    ['STAGING', 'provisioning'],
    ['RUNNING', 'running'],
    ['STOPPING', 'stopped'],
    ['STOPPED', 'stopped'],
    ['SUSPENDED', 'stopped'],
    ['TERMINATED', 'stopped'],
    ['SOMETHING_NEW', 'unknown'],
    [undefined, 'unknown'],
  ])('maps %s to %s', (status, expected) => {
    expect(instanceStatus(status)).toBe(expected);
  });
});

describe('instanceLabels', () => {
  it('adds hacp-cluster, which the spec cannot override', () => {
    expect(instanceLabels('prod', { team: 'infra', 'hacp-cluster': 'other' })).toEqual({
      team: 'infra',
      'hacp-cluster': 'prod',
    });
    expect(instanceLabels('prod', undefined)).toEqual({ 'hacp-cluster': 'prod' });
  });
});

describe('parseResourceUrl', () => {
  it('reads instances and forwarding rules from full and partial URLs', () => {
    expect(
      parseResourceUrl(
        'https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/instances/k-master',
      ),
    ).toEqual({ kind: 'instance', zone: 'europe-west1-b', name: 'k-master' });
    expect(parseResourceUrl('projects/p/regions/europe-west1/forwardingRules/k-master')).toEqual({
      kind: 'forwarding-rule',
      region: 'europe-west1',
      name: 'k-master',
    });
    expect(parseResourceUrl('projects/p/global/forwardingRules/x').kind).toBe('other');
  });
});

describe('assertDerivedNamesFit', () => {
  it('refuses a name whose derived names pass 63 characters', () => {
    expect(() => assertDerivedNamesFit('name', 'a'.repeat(54), ['-internal', '-pd'])).not.toThrow();
    expect(() => assertDerivedNamesFit('name', 'a'.repeat(55), ['-internal', '-pd'])).toThrow(/at most 54/);
  });
});
