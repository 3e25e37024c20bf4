import { describe, expect, it } from 'vitest';
import { ErrorCode, exitCodeFor } from './errors.js';
import { defineProviderPlugin, isProviderName, providerPluginProblems } from './plugin.js';

const create = () => {
  throw new Error('not called');
};

describe('providerPluginProblems', () => {
  it('accepts a complete v1 plugin, with or without a description', () => {
    expect(providerPluginProblems({ specificationVersion: 'v1', name: 'example', create })).toEqual([]);
    expect(
      providerPluginProblems(
        defineProviderPlugin({ specificationVersion: 'v1', name: 'my-cloud2', description: 'x', create }),
      ),
    ).toEqual([]);
  });

  it('names a wrong contract version first', () => {
    expect(providerPluginProblems({ specificationVersion: 'v2', name: 'example', create })).toEqual([
      "specificationVersion: 'v1'",
    ]);
    expect(providerPluginProblems({ name: 'example' })).toEqual(["specificationVersion: 'v1'", 'create']);
  });

  it('names a bad name, a missing create and a non-string description', () => {
    expect(
      providerPluginProblems({ specificationVersion: 'v1', name: 'My Cloud', create: 'no', description: 3 }),
    ).toEqual(['name', 'create', 'description']);
  });

  it('says a non-object is not an object', () => {
    expect(providerPluginProblems(undefined)).toEqual(['(not an object)']);
    expect(providerPluginProblems(() => 1)).toEqual(['(not an object)']);
  });
});

describe('isProviderName', () => {
  it.each(['local', 'gce', 'example', 'my-cloud', 'a1'])('%s is a provider name', (name) => {
    expect(isProviderName(name)).toBe(true);
  });
  it.each(['', 'Local', '1cloud', 'my_cloud', 'cloud-', '@scope/x', 'a'.repeat(41), 7])(
    '%s is not',
    (name) => {
      expect(isProviderName(name)).toBe(false);
    },
  );
});

describe('provider error codes', () => {
  it('an unknown provider is bad input; an invalid plugin a failure', () => {
    expect(exitCodeFor(ErrorCode.PROVIDER_NOT_FOUND)).toBe(2);
    expect(exitCodeFor(ErrorCode.PROVIDER_INVALID)).toBe(1);
  });
});
