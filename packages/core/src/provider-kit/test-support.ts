import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertZone } from '../domain.js';
import { ErrorCode, HacpError, isHacpError } from '../errors.js';
import { noopLogger } from '../logger.js';
import { assertRegionName } from '../provider-input.js';
import { createProcessAddresses } from './addresses.js';
import { type AddressRecord, createProcessCloud, type LoadBalancerRecord } from './cloud.js';
import {
  createEndpointHooks,
  createEndpointRunner,
  type EndpointDriver,
  type EndpointPlan,
} from './endpoints.js';
import { createProcessInstances } from './instances.js';
import { ensureDir, jsonFiles } from './json-files.js';
import { createProcessLoadBalancers } from './load-balancers.js';
import { createNetworkAllocations, loopbackAddressPool, sharedLoopbackAddressPool } from './networks.js';
import { findProgram, isAlive, type ProcessRecord, startDetached, stopProcess } from './processes.js';

/** A fresh folder per test; `cleanUp` (from afterEach) removes every one made. */
export function tempFolders(): { make(prefix?: string): Promise<string>; cleanUp(): Promise<void> } {
  const made: string[] = [];
  return {
    async make(prefix = 'hacp-kit-') {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    async cleanUp() {
      for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The HacpError a call throws; fails the test when it succeeds or throws something else. */
export async function failureOf(promise: Promise<unknown>): Promise<HacpError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!isHacpError(outcome)) throw new Error(`expected a HacpError, got ${String(outcome)}`);
  return outcome;
}

/** Every file under `dir` with its mode and bytes, to prove that a refusal changed nothing. */
export async function snapshotOf(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path] = `${((await stat(path)).mode & 0o777).toString(8)} ${await readFile(path, 'utf8')}`;
  }
  return files;
}

/**
 * A real endpoint program for the kit's own tests: a detached `sleep` per address, its record in
 * `endpoint.json` and the plan it was last given in `plan.json`, every server healthy while it
 * runs. `failApplies` makes the next applies fail as a program that will not start would.
 */
export function sleepEndpointDriver(): EndpointDriver & { failApplies: number; applies: number } {
  const files = jsonFiles({ writer: 'hacp-test' });
  const recordOf = async (dir: string) =>
    (await files.read<{ process: ProcessRecord }>(join(dir, 'endpoint.json')))?.process;
  const driver = {
    failApplies: 0,
    applies: 0,
    assertAvailable() {},
    async apply({ dir, plan }: { dir: string; plan: EndpointPlan }) {
      if (driver.failApplies > 0) {
        driver.failApplies--;
        throw new HacpError({ code: ErrorCode.UNAVAILABLE, message: 'The test endpoint would not start.' });
      }
      driver.applies++;
      await ensureDir(dir);
      const record = await recordOf(dir);
      if (record === undefined || !isAlive(record)) {
        const sleep = findProgram('sleep') as string;
        const started = startDetached({
          command: sleep,
          args: ['3600'],
          cwd: dir,
          logFile: join(dir, 'endpoint.log'),
        });
        await files.write(join(dir, 'endpoint.json'), { process: started.record });
      }
      await files.write(join(dir, 'plan.json'), { plan });
    },
    async stop(dir: string) {
      const record = await recordOf(dir);
      if (record !== undefined) await stopProcess(record, { graceMs: 1_000 });
      for (const name of ['endpoint.json', 'plan.json']) await rm(join(dir, name), { force: true });
    },
    async running(dir: string) {
      const record = await recordOf(dir);
      return record !== undefined && isAlive(record);
    },
    async health(dir: string) {
      const body = await files.read<{ plan: EndpointPlan }>(join(dir, 'plan.json'));
      const running = await driver.running(dir);
      const servers = body?.plan.listeners.flatMap((listener) => listener.servers) ?? [];
      return new Map(servers.map((server) => [server.name, running]));
    },
  };
  return driver;
}

/** What the endpoint of `dir` was last told to serve: each listener's server names. */
export async function servedServers(dir: string): Promise<Record<string, string[]>> {
  const body = await jsonFiles({ writer: 'hacp-test' }).read<{ plan: EndpointPlan }>(join(dir, 'plan.json'));
  return Object.fromEntries(
    (body?.plan.listeners ?? []).map((listener) => [listener.name, listener.servers.map((s) => s.name)]),
  );
}

/** A whole process cloud over `stateDir` with the sleep endpoint, addresses from 127.251-254.x.y. */
export function testCloud(stateDir: string, options: { shared?: boolean; startCheckMs?: number } = {}) {
  const cloud = createProcessCloud({
    stateDir,
    writer: 'hacp-test',
    logger: noopLogger,
    assertZone: (zone) => assertZone(zone as string),
    assertRegion: assertRegionName,
  });
  const networks = createNetworkAllocations(cloud, {
    pool: options.shared ? sharedLoopbackAddressPool() : loopbackAddressPool({ firstA: 251, lastA: 254 }),
    hostnameOf: (ref) => ref.name,
  });
  const driver = sleepEndpointDriver();
  const runner = createEndpointRunner(cloud, driver);
  const instances = createProcessInstances(cloud, {
    networks,
    endpoints: createEndpointHooks(cloud, runner),
    resolveProgram: (command, root) => findProgram(command, { cwd: root }),
    startCheckMs: options.startCheckMs ?? 300,
    stopGraceMs: 2_000,
  });
  return {
    cloud,
    driver,
    runner,
    instances,
    addresses: createProcessAddresses(cloud, { runner, networks }),
    loadBalancers: createProcessLoadBalancers(cloud, { runner }),
    /** Deletes everything the cloud made, so that no process outlives the test. */
    async deleteAll(): Promise<void> {
      const op = { requestId: 'cleanup' };
      for (const record of await cloud.files.readFolder<LoadBalancerRecord>(cloud.paths.loadBalancers)) {
        await this.loadBalancers.delete(record.spec, op);
      }
      for (const record of await instances.records()) await instances.api.delete(record, op);
      for (const record of await cloud.files.readFolder<AddressRecord>(cloud.paths.addresses)) {
        await this.addresses.detach(record, op);
        await this.addresses.release(record, op);
      }
    },
  };
}

/**
 * The test clouds of one test file: `make` gives a fresh one; `cleanUp` (from afterEach) deletes
 * everything each made, so that no process outlives its test, and their folders.
 */
export function testClouds(): {
  make(options?: Parameters<typeof testCloud>[1]): Promise<ReturnType<typeof testCloud>>;
  cleanUp(): Promise<void>;
} {
  const folders = tempFolders();
  const made: ReturnType<typeof testCloud>[] = [];
  return {
    async make(options = {}) {
      const cloud = testCloud(await folders.make(), options);
      made.push(cloud);
      return cloud;
    },
    async cleanUp() {
      for (const cloud of made.splice(0)) await cloud.deleteAll();
      await folders.cleanUp();
    },
  };
}
