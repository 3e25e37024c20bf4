import { AssertionError } from 'node:assert';
import { HacpError, isHacpError, type ProviderV1 } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { providerConformance } from './kit.js';
import { createMemoryProvider, type MemoryProvider } from './memory-provider.js';
import type { ConformanceCapabilities } from './types.js';

interface RecordedTest {
  /** `group > test`, without the outermost describe. */
  path: string;
  run: () => Promise<void>;
  timeoutMs: number | undefined;
}

/** Runs the kit's registration with a describe/it that only records, so tests can run its tests directly. */
function recordKit(
  create: () => ProviderV1 | Promise<ProviderV1>,
  capabilities: ConformanceCapabilities = { stopStart: true },
): Map<string, RecordedTest> {
  const tests = new Map<string, RecordedTest>();
  const stack: string[] = [];
  providerConformance({
    describe: (name, fn) => {
      stack.push(name);
      fn();
      stack.pop();
    },
    it: (name, fn, timeoutMs) => {
      const path = [...stack.slice(1), name].join(' > ');
      if (tests.has(path)) throw new Error(`The kit registers "${path}" twice.`);
      tests.set(path, { path, run: fn, timeoutMs });
    },
    create,
    capabilities,
  });
  return tests;
}

function recorded(tests: Map<string, RecordedTest>, path: string): RecordedTest {
  const test = tests.get(path);
  if (test === undefined)
    throw new Error(`The kit has no test "${path}"; it has:\n${[...tests.keys()].join('\n')}`);
  return test;
}

/** A memory provider with one part replaced by a broken one. */
function broken(replace: (provider: MemoryProvider) => ProviderV1): () => ProviderV1 {
  return () => replace(createMemoryProvider());
}

const conflict = () => new HacpError({ code: 'CONFLICT', message: 'Refused, after changing things.' });

const BROKEN_PROVIDERS: readonly {
  fault: string;
  path: string;
  message: RegExp;
  create: () => ProviderV1;
}[] = [
  {
    fault: 'put ignores expectedVersion',
    path: 'state store > put with a stale expectedVersion is CONFLICT and writes nothing',
    message: /should have failed with HacpError CONFLICT, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      state: {
        ...provider.state,
        put: async (key, value, options) => {
          const current = await provider.state.get(key);
          return provider.state.put(key, value, { ...options, expectedVersion: current?.version ?? 0 });
        },
      },
    })),
  },
  {
    fault: 'put writes, then reports CONFLICT',
    path: 'state store > put with a stale expectedVersion is CONFLICT and writes nothing',
    message: /has version 3; it should still be 2/,
    create: broken((provider) => ({
      ...provider,
      state: {
        ...provider.state,
        put: async (key, value, options) => {
          const current = await provider.state.get(key);
          const written = await provider.state.put(key, value, {
            ...options,
            expectedVersion: current?.version ?? 0,
          });
          if (current !== undefined && current.version !== options.expectedVersion) throw conflict();
          return written;
        },
      },
    })),
  },
  {
    fault: 'lock grants a second holder',
    path: 'lock > a second holder gets LOCKED naming the holder until release, then gets it',
    message: /should have failed with HacpError LOCKED, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      state: {
        ...provider.state,
        lock: async (name, options) => {
          try {
            return await provider.state.lock(name, options);
          } catch (error) {
            if (!isHacpError(error, 'LOCKED')) throw error;
            const noop = async () => {};
            return {
              name,
              holder: options.holder,
              expiresAt: new Date(Date.now() + options.ttlMs),
              renew: noop,
              release: noop,
            };
          }
        },
      },
    })),
  },
  {
    fault: 'attach steals an address another instance holds',
    path: 'addresses > attach to another instance while one holds it is CONFLICT and the holder is unchanged',
    message: /should have failed with HacpError CONFLICT, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      addresses: {
        ...provider.addresses,
        attach: async (ref, instance, options) => {
          await provider.addresses.detach(ref, options);
          return provider.addresses.attach(ref, instance, options);
        },
      },
    })),
  },
  {
    fault: 'a refused attach moves the address anyway',
    path: 'addresses > attach to another instance while one holds it is CONFLICT and the holder is unchanged',
    message: /is held by instance .*; it should be held by instance/,
    create: broken((provider) => ({
      ...provider,
      addresses: {
        ...provider.addresses,
        attach: async (ref, instance, options) => {
          const address = await provider.addresses.get(ref);
          const holder = address?.holder;
          if (holder?.kind === 'instance' && holder.instance.name !== instance.name) {
            await provider.addresses.detach(ref, options);
            await provider.addresses.attach(ref, instance, options);
            throw conflict();
          }
          return provider.addresses.attach(ref, instance, options);
        },
      },
    })),
  },
  {
    fault: 'release succeeds while an instance holds the address',
    path: 'addresses > release while an instance holds it is CONFLICT and it stays reserved',
    message: /should have failed with HacpError CONFLICT, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      addresses: {
        ...provider.addresses,
        release: async (ref, options) => {
          const address = await provider.addresses.get(ref);
          if (address?.holder?.kind === 'instance') await provider.addresses.detach(ref, options);
          return provider.addresses.release(ref, options);
        },
      },
    })),
  },
  {
    fault: 'deleting a missing instance throws NOT_FOUND',
    path: 'instances > delete removes the instance; deleting it again is fine',
    message: /should succeed, but it threw HacpError NOT_FOUND/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        delete: async (ref, options) => {
          if ((await provider.instances.get(ref)) === undefined) {
            throw new HacpError({ code: 'NOT_FOUND', message: `No instance ${ref.name}.` });
          }
          return provider.instances.delete(ref, options);
        },
      },
    })),
  },
  {
    fault: 'create is not idempotent',
    path: 'instances > create again with the same spec returns the same instance',
    message: /should succeed, but it threw HacpError ALREADY_EXISTS/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        create: async (spec, options) => {
          if ((await provider.instances.get(spec)) !== undefined) {
            throw new HacpError({ code: 'ALREADY_EXISTS', message: `Instance ${spec.name} exists.` });
          }
          return provider.instances.create(spec, options);
        },
      },
    })),
  },
  {
    fault: 'list returns instances in creation order',
    path: "instances > list returns only the cluster's instances, across zones, sorted by name",
    message: /sorted by name/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        list: async (filter, options) =>
          (await provider.instances.list(filter, options)).sort(
            (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || b.name.localeCompare(a.name),
          ),
      },
    })),
  },
  {
    fault: 'ensure takes the address from an instance',
    path: 'load balancer > ensure while an instance holds the address is CONFLICT and changes nothing',
    message: /should have failed with HacpError CONFLICT, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      loadBalancers: {
        ...provider.loadBalancers,
        ensure: async (spec, options) => {
          await provider.addresses.detach({ name: spec.address, region: spec.region }, options);
          return provider.loadBalancers.ensure(spec, options);
        },
      },
    })),
  },
];

describe('providerConformance', () => {
  it('registers each group once, every test with the default 60 s timeout', () => {
    const tests = recordKit(() => createMemoryProvider(), { stopStart: true, failedStartRollsBack: true });
    const groups = new Set([...tests.keys()].map((path) => path.split(' > ')[0]));
    expect([...groups]).toEqual([
      'shape',
      'zones and regions',
      'state store',
      'lock',
      'instances',
      'addresses',
      'load balancer',
      'firewall',
      'reach',
      'bad input',
      'abort',
    ]);
    expect([...tests.values()].every((test) => test.timeoutMs === 60_000)).toBe(true);
    expect(tests.has('instances > create whose process cannot start throws and leaves no instance')).toBe(
      true,
    );
    expect(tests.has('instances > stop makes the instance stopped and start makes it running again')).toBe(
      true,
    );
  });

  it('leaves out the tests of capabilities the provider lacks, and passes timeoutMs on', () => {
    const tests = recordKit(() => createMemoryProvider(), { timeoutMs: 1234 });
    expect([...tests.keys()].some((path) => /stop|process cannot start/.test(path))).toBe(false);
    expect(new Set([...tests.values()].map((test) => test.timeoutMs))).toEqual(new Set([1234]));
  });

  it('refuses options without describe, it or create', () => {
    const options = { describe: () => {}, it: () => {}, create: () => createMemoryProvider() };
    for (const field of ['describe', 'it', 'create'] as const) {
      expect(() => providerConformance({ ...options, [field]: undefined })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field } }),
      );
    }
  });

  it('passes the unbroken memory provider in every test', async () => {
    const tests = recordKit(() => createMemoryProvider());
    const outcomes = await Promise.allSettled([...tests.values()].map((test) => test.run()));
    const failures = [...tests.keys()].flatMap((path, index) => {
      const outcome = outcomes[index];
      return outcome?.status === 'rejected' ? [`${path}: ${String(outcome.reason)}`] : [];
    });
    expect(failures).toEqual([]);
    expect(tests.size).toBeGreaterThan(40);
  });

  for (const { fault, path, message, create } of BROKEN_PROVIDERS) {
    it(`fails "${path}" when ${fault}`, async () => {
      const run = recorded(recordKit(create), path).run();
      await expect(run).rejects.toBeInstanceOf(AssertionError);
      await expect(run).rejects.toThrow(message);
    });
  }

  it('fails the failed-start test against a provider that starts no processes', async () => {
    const tests = recordKit(() => createMemoryProvider(), { failedStartRollsBack: true });
    const run = recorded(
      tests,
      'instances > create whose process cannot start throws and leaves no instance',
    ).run();
    await expect(run).rejects.toThrow(
      /runs \/nonexistent\/hacp-conformance-missing should have failed with a HacpError, but it succeeded/,
    );
  });

  it('fails an otherwise passing test whose resources cannot be deleted', async () => {
    const create = broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        delete: async () => {
          throw new HacpError({ code: 'UNAVAILABLE', message: 'The instance API is down.' });
        },
      },
    }));
    const run = recorded(
      recordKit(create),
      'instances > get returns the instance; get of a missing one is undefined',
    ).run();
    await expect(run).rejects.toThrow(
      /deleting what the test created failed:\n- deleting instance .* threw HacpError UNAVAILABLE/,
    );
  });

  it('closes each provider it creates, also when the test fails', async () => {
    let closed = 0;
    const create = broken((provider) => ({
      ...provider,
      zones: { list: async () => [] },
      close: async () => {
        closed += 1;
      },
    }));
    const tests = recordKit(create);
    await expect(
      recorded(
        tests,
        'zones and regions > lists at least one zone, each valid and in the region regionOfZone gives',
      ).run(),
    ).rejects.toThrow(/no zone/);
    await expect(recorded(tests, 'reach > reach of a missing instance is NOT_FOUND').run()).rejects.toThrow(
      /There is no zone to place test instances in: zones.list\(\) offered no zone/,
    );
    expect(closed).toBe(2);
  });
});
