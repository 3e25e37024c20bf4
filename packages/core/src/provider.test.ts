import { describe, expect, it } from 'vitest';
import { missingProviderV1Members, PROVIDER_V1_METHODS, type ProviderV1 } from './provider.js';

const notImplemented = async (): Promise<never> => {
  throw new Error('not used by these tests');
};

/** A provider with every v1 member, each an async function that is never called. */
function completeProvider(): ProviderV1 {
  return {
    specificationVersion: 'v1',
    name: 'fake',
    zones: { list: notImplemented },
    state: {
      get: notImplemented,
      put: notImplemented,
      delete: notImplemented,
      list: notImplemented,
      lock: notImplemented,
    },
    instances: {
      allocateNetwork: notImplemented,
      create: notImplemented,
      get: notImplemented,
      list: notImplemented,
      delete: notImplemented,
    },
    addresses: {
      reserve: notImplemented,
      get: notImplemented,
      release: notImplemented,
      attach: notImplemented,
      detach: notImplemented,
    },
    loadBalancers: {
      ensure: notImplemented,
      get: notImplemented,
      setTargets: notImplemented,
      delete: notImplemented,
    },
    firewalls: { ensure: notImplemented, delete: notImplemented },
    reach: notImplemented,
  };
}

describe('missingProviderV1Members', () => {
  it('is empty for a complete provider', () => {
    expect(missingProviderV1Members(completeProvider())).toEqual([]);
  });

  it('is empty when the optional members are present too', () => {
    const provider = completeProvider();
    const withOptional = {
      ...provider,
      instances: { ...provider.instances, stop: notImplemented, start: notImplemented },
      close: notImplemented,
    };

    expect(missingProviderV1Members(withOptional)).toEqual([]);
  });

  it('names a missing method as group.method', () => {
    const provider = completeProvider();
    const { lock: _lock, ...state } = provider.state;

    expect(missingProviderV1Members({ ...provider, state })).toEqual(['state.lock']);
  });

  it('names a member that is not a function', () => {
    const provider = completeProvider();

    expect(
      missingProviderV1Members({
        ...provider,
        reach: 'tunnel',
        firewalls: { ...provider.firewalls, ensure: {} },
      }),
    ).toEqual(['reach', 'firewalls.ensure']);
  });

  it('names every method of a missing group', () => {
    const { loadBalancers: _loadBalancers, ...provider } = completeProvider();

    expect(missingProviderV1Members(provider)).toEqual(
      PROVIDER_V1_METHODS.loadBalancers.map((method) => `loadBalancers.${method}`),
    );
  });

  it('names the specification version when it is not v1', () => {
    expect(missingProviderV1Members({ ...completeProvider(), specificationVersion: 'v2' })).toEqual([
      "specificationVersion: 'v1'",
    ]);
  });

  it('names an empty or missing name', () => {
    expect(missingProviderV1Members({ ...completeProvider(), name: '' })).toEqual(['name']);
    const { name: _name, ...unnamed } = completeProvider();
    expect(missingProviderV1Members(unnamed)).toEqual(['name']);
  });

  it.each([null, undefined, 'local', 42])('is "(not an object)" for %s', (candidate) => {
    expect(missingProviderV1Members(candidate)).toEqual(['(not an object)']);
  });

  it('lists everything for an empty object', () => {
    const methodCount = Object.values(PROVIDER_V1_METHODS).reduce((sum, methods) => sum + methods.length, 0);

    const missing = missingProviderV1Members({});

    expect(missing.slice(0, 3)).toEqual(["specificationVersion: 'v1'", 'name', 'reach']);
    expect(missing).toHaveLength(3 + methodCount);
  });
});
