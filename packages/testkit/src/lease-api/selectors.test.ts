import { describe, expect, it } from 'vitest';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorSyntaxError,
} from './selectors.js';

const labels = { tier: 'control', zone: 'europe-west1-b', 'hacp.dev/replica': 'cp-1', weight: '7' };
const select = (selector: string, on: Record<string, string> = labels) =>
  matchesLabels(parseLabelSelector(selector), on);

describe('parseLabelSelector and matchesLabels', () => {
  it('selects everything with an empty selector', () => {
    expect(parseLabelSelector('')).toEqual([]);
    expect(select('')).toBe(true);
  });

  it('matches equality with = and ==, and inequality with !=', () => {
    expect(select('tier=control')).toBe(true);
    expect(select('tier==control')).toBe(true);
    expect(select('tier=worker')).toBe(false);
    expect(select('tier!=worker')).toBe(true);
    expect(select('tier!=control')).toBe(false);
    // != also holds when the label is absent, as in Go.
    expect(select('missing!=x')).toBe(true);
  });

  it('matches set-based in and notin', () => {
    expect(select('zone in (europe-west1-b, europe-west1-c)')).toBe(true);
    expect(select('zone in (us-east1-b)')).toBe(false);
    expect(select('zone notin (us-east1-b)')).toBe(true);
    expect(select('zone notin (europe-west1-b)')).toBe(false);
    expect(select('missing notin (a)')).toBe(true);
    expect(select('missing in (a)')).toBe(false);
  });

  it('matches existence and absence', () => {
    expect(select('hacp.dev/replica')).toBe(true);
    expect(select('!hacp.dev/replica')).toBe(false);
    expect(select('!missing')).toBe(true);
    expect(select('missing')).toBe(false);
  });

  it('ANDs comma-separated requirements', () => {
    expect(select('tier=control,zone in (europe-west1-b),!missing')).toBe(true);
    expect(select('tier=control,zone in (us-east1-b)')).toBe(false);
  });

  it('compares integers with > and <', () => {
    expect(select('weight>5')).toBe(true);
    expect(select('weight<5')).toBe(false);
    expect(select('tier>5')).toBe(false);
  });

  it('accepts an empty value for = (a label that is set to the empty string)', () => {
    expect(select('empty=', { empty: '' })).toBe(true);
    expect(select('empty=', { empty: 'x' })).toBe(false);
  });

  it.each([
    'zone in (a,b',
    'zone in a',
    'tier=control,',
    '=x',
    'a b',
    'bad key!=x',
    'tier=not valid',
    'Tier/x/y=1',
    'weight>abc',
    'x=(',
  ])('refuses the unparsable selector %j', (selector) => {
    expect(() => parseLabelSelector(selector)).toThrow(SelectorSyntaxError);
  });

  it('refuses a value longer than 63 characters', () => {
    expect(() => parseLabelSelector(`a=${'x'.repeat(64)}`)).toThrow(/no more than 63 characters/);
  });
});

describe('parseFieldSelector', () => {
  const fields = { 'metadata.name': 'cp-leader', 'metadata.namespace': 'kube-system' };

  it('matches metadata.name and metadata.namespace with =, == and !=', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=cp-leader'), fields)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.name==other'), fields)).toBe(false);
    expect(
      matchesFields(parseFieldSelector('metadata.namespace!=default,metadata.name=cp-leader'), fields),
    ).toBe(true);
  });

  it('refuses fields a Lease does not index, with the apiserver message', () => {
    expect(() => parseFieldSelector('spec.holderIdentity=a')).toThrow(
      '"spec.holderIdentity" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
  });
});
