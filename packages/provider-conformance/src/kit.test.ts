import { AssertionError } from 'node:assert';
import { HacpError, isHacpError, type NodeFile, type ProviderV1 } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { providerConformance } from './kit.js';
import { createMemoryProvider, type MemoryProvider } from './memory-provider.js';
import type { ConformanceCapabilities, TestFunction } from './types.js';

interface RecordedTest {
  /** `group > test`, without the outermost describe. */
  path: string;
  /** Runs it as a runner would: `self` as `this` (mocha), `context` as the first argument (vitest, node:test). */
  run: (runner?: { self?: unknown; context?: unknown }) => Promise<void>;
  timeoutMs: number | undefined;
}

/** What the memory provider's disk holds, for the syncFiles checks. */
const readMemoryFiles: ConformanceCapabilities['readFiles'] = async ({ provider, ref, prefix }) =>
  (provider as MemoryProvider).instanceFiles(ref, prefix);

/** Runs the kit's registration with a describe/it that only records, so tests can run its tests directly. */
function recordKit(
  create: () => ProviderV1 | Promise<ProviderV1>,
  capabilities: ConformanceCapabilities = { stopStart: true, readFiles: readMemoryFiles },
): Map<string, RecordedTest> {
  const tests = new Map<string, RecordedTest>();
  const stack: string[] = [];
  providerConformance({
    describe: (name, fn) => {
      stack.push(name);
      fn();
      stack.pop();
    },
    it: (name, fn: TestFunction, timeoutMs) => {
      const path = [...stack.slice(1), name].join(' > ');
      if (tests.has(path)) throw new Error(`The kit registers "${path}" twice.`);
      // A declared parameter would make jest pass a done callback.
      expect(fn.length).toBe(0);
      const run = (runner: { self?: unknown; context?: unknown } = {}) =>
        fn.call(runner.self, ...(runner.context === undefined ? [] : [runner.context]));
      tests.set(path, { path, run, timeoutMs });
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
    fault: 'stopProcesses refuses names the instance does not run',
    path: 'stop processes > stopProcesses keeps the instance running; unknown names, a repeat and stopped processes are fine',
    message: /should succeed, but it threw HacpError NOT_FOUND/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        stopProcesses: async (ref, names, options) => {
          const unknown = names.find((name) => name !== 'idle');
          if (unknown !== undefined)
            throw new HacpError({ code: 'NOT_FOUND', message: `No process ${unknown}.` });
          return provider.instances.stopProcesses(ref, names, options);
        },
      },
    })),
  },
  {
    fault: 'stopProcesses stops the whole instance',
    path: 'stop processes > stopProcesses keeps the instance running; unknown names, a repeat and stopped processes are fine',
    message: /has status stopped, not running as before/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        stopProcesses: (ref, _names, options) => provider.instances.stop(ref, options),
      },
    })),
  },
  {
    fault: 'stopProcesses of a missing instance succeeds',
    path: 'stop processes > stopProcesses of a missing instance is NOT_FOUND',
    message: /should have failed with HacpError NOT_FOUND, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      instances: { ...provider.instances, stopProcesses: async () => {} },
    })),
  },
  {
    fault: 'syncFiles keeps the files it is no longer given',
    path: 'sync files > syncFiles makes the folder hold exactly the files given, with their modes; files elsewhere stay',
    message: /does not hold exactly its files/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        syncFiles: async (ref, update, options) => {
          const given = new Set(update.files.map((file) => file.path));
          const kept: NodeFile[] = provider
            .instanceFiles(ref, update.prefix)
            .filter((file) => !given.has(file.path));
          return provider.instances.syncFiles(ref, { ...update, files: [...kept, ...update.files] }, options);
        },
      },
    })),
  },
  {
    fault: 'syncFiles ignores paths outside the prefix',
    path: 'sync files > syncFiles of a path outside the prefix is INVALID_ARGUMENT and writes nothing',
    message: /should have failed with HacpError INVALID_ARGUMENT, but it succeeded/,
    create: broken((provider) => ({
      ...provider,
      instances: {
        ...provider.instances,
        syncFiles: (ref, update, options) =>
          provider.instances.syncFiles(
            ref,
            { ...update, files: update.files.filter((file) => /^addons\/[a-z.]+$/.test(file.path)) },
            options,
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
      'stop processes',
      'sync files',
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
    expect([...tests.keys()].some((path) => /stop makes|process cannot start/.test(path))).toBe(false);
    expect(new Set([...tests.values()].map((test) => test.timeoutMs))).toEqual(new Set([1234]));
  });

  it('leaves out the stopProcesses and syncFiles checks with those capabilities false', () => {
    const kept = [...recordKit(() => createMemoryProvider(), {}).keys()];
    const left = [
      ...recordKit(() => createMemoryProvider(), { stopProcesses: false, syncFiles: false }).keys(),
    ];
    const optional = (path: string) => /^(stop processes|sync files) > /.test(path);
    expect(kept.filter(optional)).toHaveLength(8);
    expect(left.filter(optional)).toEqual([]);
    expect(left).toEqual(kept.filter((path) => !optional(path)));
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

  describe('for a provider without stopProcesses and syncFiles', () => {
    const withoutOptional = () => {
      const { stopProcesses: _stop, syncFiles: _sync, ...instances } = createMemoryProvider().instances;
      return { ...createMemoryProvider(), instances } as ProviderV1;
    };
    const optionalTests = (capabilities: ConformanceCapabilities = {}) =>
      [...recordKit(withoutOptional, capabilities).values()].filter((test) =>
        /^(stop processes|sync files) > /.test(test.path),
      );
    class Skipped extends Error {}

    it("skips their checks at run time through vitest's context.skip, after cleaning up", async () => {
      const notes: string[] = [];
      // vitest 4's test context is a function with skip on it.
      const context = Object.assign(() => undefined, {
        skip: (note: string) => {
          notes.push(note);
          throw new Skipped(note);
        },
      });
      const outcomes = await Promise.allSettled(optionalTests().map((test) => test.run({ context })));
      expect(
        outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof Skipped),
      ).toBe(true);
      expect(new Set(notes)).toEqual(
        new Set([
          'the provider does not offer instances.stopProcesses',
          'the provider does not offer instances.syncFiles',
        ]),
      );
      expect(notes).toHaveLength(8);
    });

    it("skips them through node:test's t.skip, which returns, and mocha's this.skip", async () => {
      const [first] = optionalTests();
      const notes: string[] = [];
      await first?.run({ context: { skip: (note: string) => void notes.push(`node:test ${note}`) } });
      await expect(
        first?.run({
          self: {
            skip: () => {
              notes.push('mocha');
              throw new Skipped();
            },
          },
        }),
      ).rejects.toBeInstanceOf(Skipped);
      expect(notes).toEqual(['node:test the provider does not offer instances.stopProcesses', 'mocha']);
    });

    it('fails them on a runner that cannot skip at run time (jest), saying how to leave them out', async () => {
      const outcomes = await Promise.allSettled(optionalTests().map((test) => test.run()));
      const messages = outcomes.map((outcome) =>
        outcome.status === 'rejected' ? String(outcome.reason) : 'passed',
      );
      expect(
        messages.every((message) =>
          /cannot skip a test while it runs: pass capabilities\.(stopProcesses|syncFiles): false/.test(
            message,
          ),
        ),
      ).toBe(true);
    });

    it('fails them when the capability says the method is there', async () => {
      const tests = optionalTests({ stopProcesses: true, syncFiles: true });
      const outcomes = await Promise.allSettled(
        tests.map((test) => test.run({ context: { skip: () => {} } })),
      );
      const messages = outcomes.map((outcome) =>
        outcome.status === 'rejected' ? String(outcome.reason) : 'passed',
      );
      expect(
        messages.every((message) =>
          /capability is set, but instances\.(stopProcesses|syncFiles) is missing/.test(message),
        ),
      ).toBe(true);
    });
  });

  it('skips the exact-files check without capabilities.readFiles, and runs the others', async () => {
    const tests = recordKit(() => createMemoryProvider(), {});
    const notes: string[] = [];
    const context = { skip: (note: string) => void notes.push(note) };
    for (const test of [...tests.values()].filter((test) => test.path.startsWith('sync files > '))) {
      await test.run({ context });
    }
    expect(notes).toEqual(['capabilities.readFiles is not given, so what syncFiles wrote cannot be seen']);
  });

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
