import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode, HacpError } from '@hacp/core';
import type { AddressRanges } from './ip-pool.js';

const run = promisify(execFile);

/**
 * The test server's VPC: a network of Linux network namespaces on this machine, one per VM, so a VM's
 * processes bind the addresses a GCE VM has (its internal IP, 0.0.0.0, 127.0.0.1 of its own) without
 * clashing with another VM's. A bridge in this machine's namespace joins them (VM to VM and this
 * machine to every VM, as inside a VPC). External addresses live only here:
 * - an instance's external IP (an access config's natIP) is routed to the instance and translated to
 *   its internal IP inside its namespace, as GCE's one-to-one NAT does;
 * - a forwarding rule's IP is routed to the healthy targets of its pool and is a local address in
 *   every target's namespace, as GCE's guest agent adds it: a process that listens on 0.0.0.0 (or on
 *   that IP) accepts the load balancer's packets, one bound to the internal IP alone refuses them.
 * Addresses come from 100.64.0.0/10 (shared address space, never routed on the internet): a /21 block
 * per VPC, claimed with a file so concurrent test processes never pick the same one. The rest of the
 * block's external half is unreachable, so nothing addressed to it leaves the machine.
 */
export interface Vpc {
  /** The bridge's address: this machine as the VMs see it (the metadata server listens here). */
  readonly gateway: string;
  /** The address ranges the server's IP pools hand out. */
  readonly ranges: AddressRanges;
  /** The internal and external CIDRs, for tests that check where traffic went. */
  readonly cidrs: readonly string[];
  /** Gives the VM `key` its own namespace with `ip` on its interface; idempotent. Returns the namespace. */
  attach(key: string, ip: string): Promise<string>;
  /** Deletes the VM's namespace (its processes must be gone); no-op for an unknown VM. */
  detach(key: string): Promise<void>;
  /** The namespace of a VM, if attached. */
  namespaceOf(key: string): string | undefined;
  /** Makes routing and translation match `plan`, changing only what differs. */
  apply(plan: VpcRouting): Promise<void>;
  /** Deletes every namespace, route and the bridge. Idempotent. */
  close(): Promise<void>;
}

/** What the VPC routes: desired state, rebuilt from the API's resources by the caller. */
export interface VpcRouting {
  /** External IP → the internal IP of the instance it is translated to. */
  nat: ReadonlyMap<string, string>;
  /** Forwarding-rule IP → the internal IPs packets to it are routed to (at least one). */
  forwarding: ReadonlyMap<string, readonly string[]>;
  /** VM key → forwarding-rule IPs that are local addresses in its namespace. */
  local: ReadonlyMap<string, readonly string[]>;
}

/** 100.64.0.0/10 in /21 blocks: 512 of them. */
const BLOCKS = 512;
const BLOCK_BASE = (100 << 24) | (64 << 16);
const BLOCK_SIZE = 2048;
const CLAIMS_DIR = join(tmpdir(), 'hacp-vpc-claims');

const ipOf = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

async function ip(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', [...args], { timeout: 30_000 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? String(error);
    throw new HacpError({
      code: ErrorCode.INTERNAL,
      message: `ip ${args.join(' ')} failed: ${stderr}`,
      retryable: false,
    });
  }
}

async function nft(namespace: string, script: string): Promise<void> {
  const child = execFile('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], { timeout: 30_000 });
  const done = new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`nft in ${namespace} failed: ${stderr.trim()}`)),
    );
  });
  child.stdin?.end(script);
  await done;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const numberOf = (address: string) => address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);

/**
 * Whether any address in `routes` (`ip route show` output) lies in block `index`: a route of a live
 * VPC, or one a killed test run left behind (its bridge's, or the unreachable external half).
 */
export function routesInBlock(routes: string, index: number): boolean {
  const start = BLOCK_BASE + index * BLOCK_SIZE;
  for (const [address] of routes.matchAll(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g)) {
    const offset = numberOf(address) - start;
    if (offset >= 0 && offset < BLOCK_SIZE) return true;
  }
  return false;
}

/** Claims a free /21 block: a claim file names the owner's pid; a dead owner's claim is taken over. */
function claimBlock(): { index: number; release: () => void } {
  mkdirSync(CLAIMS_DIR, { recursive: true, mode: 0o700 });
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let attempt = 0; attempt < 64; attempt += 1) {
    const index = randomInt(0, BLOCKS);
    const file = join(CLAIMS_DIR, String(index));
    if (routesInBlock(routes, index)) continue;
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
    } catch {
      const owner = Number(readFileSync(file, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue;
      writeFileSync(file, String(process.pid));
    }
    return { index, release: () => rmSync(file, { force: true }) };
  }
  throw new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: 'No free address block for a test VPC in 100.64.0.0/10.',
    retryable: true,
  });
}

/** What a VPC made, written where the global setup's teardown finds it if this process dies. */
interface VpcRecord {
  bridge: string;
  namespaces: string[];
  unreachable: string;
}

function recordFile(bridge: string): string | undefined {
  const dir = process.env.HACP_TESTKIT_PID_DIR;
  return dir ? join(dir, `vpc-${bridge}.json`) : undefined;
}

/** Deletes what a record names, synchronously (used at exit and by the reaper). */
function removeRecorded(record: VpcRecord): void {
  const quiet = (args: string[]) => {
    try {
      execFileSync('ip', args, { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  for (const namespace of record.namespaces) quiet(['netns', 'delete', namespace]);
  quiet(['route', 'delete', 'unreachable', record.unreachable]);
  quiet(['link', 'delete', record.bridge]);
}

/** Deletes the VPCs recorded in `dir` by processes that died before closing them. */
export function reapRecordedVpcs(dir: string): string[] {
  const reaped: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir).filter((entry) => /^vpc-.*\.json$/.test(entry));
  } catch {
    return reaped;
  }
  for (const entry of entries) {
    try {
      const record = JSON.parse(readFileSync(join(dir, entry), 'utf8')) as VpcRecord;
      removeRecorded(record);
      reaped.push(record.bridge);
    } catch {
      // unreadable: nothing to do
    }
    rmSync(join(dir, entry), { force: true });
  }
  return reaped;
}

/** Whether this machine can make network namespaces (root, with iproute2 and nftables). */
export function canCreateVpc(): boolean {
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/**
 * Creates a VPC (see Vpc).
 *
 * @throws HacpError DEPENDENCY_MISSING when this machine cannot make network namespaces.
 */
export async function createVpc(): Promise<Vpc> {
  if (!canCreateVpc()) {
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: 'The Compute API test server boots VMs in network namespaces: it needs root, ip and nft.',
      actions: ['Run bash scripts/setup.sh (it installs iproute2 and nftables), as root.'],
    });
  }
  const id = randomBytes(3).toString('hex');
  const block = claimBlock();
  const base = BLOCK_BASE + block.index * BLOCK_SIZE;
  const gateway = ipOf(base + 1);
  const internal = `${ipOf(base)}/22`;
  const external = `${ipOf(base + 1024)}/22`;
  const bridge = `hb${id}`;
  const record: VpcRecord = { bridge, namespaces: [], unreachable: external };
  const file = recordFile(bridge);
  const save = () => {
    if (file !== undefined) writeFileSync(file, JSON.stringify(record));
  };
  const namespaces = new Map<string, { namespace: string; ip: string; veth: string }>();
  let counter = 0;
  let closed = false;
  const onExit = () => removeRecorded(record);
  process.once('exit', onExit);
  save();
  await ip(['link', 'add', bridge, 'type', 'bridge']);
  await ip(['addr', 'add', `${gateway}/22`, 'dev', bridge]);
  await ip(['link', 'set', bridge, 'up']);
  await ip(['route', 'add', 'unreachable', external]);

  // Applied state, so apply() changes only what differs.
  const routes = new Map<string, string>();
  const natRules = new Map<string, string>();
  const localRoutes = new Map<string, Set<string>>();

  async function setLocal(key: string, wanted: readonly string[]): Promise<void> {
    const entry = namespaces.get(key);
    if (entry === undefined) return;
    const current = localRoutes.get(key) ?? new Set<string>();
    for (const address of wanted) {
      if (current.has(address)) continue;
      await ip([
        '-n',
        entry.namespace,
        'route',
        'replace',
        'local',
        `${address}/32`,
        'dev',
        'eth0',
        'table',
        'local',
      ]);
      current.add(address);
    }
    for (const address of [...current]) {
      if (wanted.includes(address)) continue;
      await ip(['-n', entry.namespace, 'route', 'delete', 'local', `${address}/32`, 'table', 'local']).catch(
        () => undefined,
      );
      current.delete(address);
    }
    localRoutes.set(key, current);
  }

  async function setNat(plan: ReadonlyMap<string, string>): Promise<void> {
    const byNamespace = new Map<string, string[]>();
    for (const [external, internal] of plan) {
      const entry = [...namespaces.values()].find((candidate) => candidate.ip === internal);
      if (entry === undefined) continue;
      const rules = byNamespace.get(entry.namespace) ?? [];
      rules.push(`add rule ip hacp prerouting ip daddr ${external} dnat to ${internal}`);
      byNamespace.set(entry.namespace, rules);
    }
    for (const { namespace } of namespaces.values()) {
      const rules = (byNamespace.get(namespace) ?? []).sort().join('\n');
      if ((natRules.get(namespace) ?? '') === rules) continue;
      const script = [
        'table ip hacp {}',
        'delete table ip hacp',
        'table ip hacp {',
        '  chain prerouting {',
        '    type nat hook prerouting priority -100;',
        '  }',
        '}',
        rules,
      ].join('\n');
      await nft(namespace, `${script}\n`);
      natRules.set(namespace, rules);
    }
  }

  async function setRoutes(wanted: Map<string, string>): Promise<void> {
    for (const [address, nexthops] of wanted) {
      if (routes.get(address) === nexthops) continue;
      const via = nexthops.split(',');
      const args =
        via.length === 1
          ? ['route', 'replace', `${address}/32`, 'via', via[0] as string, 'dev', bridge]
          : [
              'route',
              'replace',
              `${address}/32`,
              ...via.flatMap((hop) => ['nexthop', 'via', hop, 'dev', bridge]),
            ];
      await ip(args);
      routes.set(address, nexthops);
    }
    for (const address of [...routes.keys()]) {
      if (wanted.has(address)) continue;
      await ip(['route', 'delete', `${address}/32`, 'dev', bridge]).catch(() => undefined);
      routes.delete(address);
    }
  }

  return {
    gateway,
    ranges: {
      INTERNAL: { first: base + 2, last: base + 1022 },
      EXTERNAL: { first: base + 1025, last: base + 2046 },
    },
    cidrs: [internal, external],

    namespaceOf: (key) => namespaces.get(key)?.namespace,

    async attach(key, address) {
      const existing = namespaces.get(key);
      if (existing !== undefined) return existing.namespace;
      counter += 1;
      const namespace = `hacp-${id}-${counter}`;
      const veth = `hv${id}${counter}`;
      namespaces.set(key, { namespace, ip: address, veth });
      record.namespaces.push(namespace);
      save();
      await ip(['netns', 'add', namespace]);
      await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
      await ip(['link', 'set', veth, 'master', bridge, 'up']);
      await ip(['-n', namespace, 'addr', 'add', `${address}/22`, 'dev', 'eth0']);
      await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
      await ip(['-n', namespace, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', namespace, 'route', 'add', 'default', 'via', gateway]);
      return namespace;
    },

    async detach(key) {
      const entry = namespaces.get(key);
      if (entry === undefined) return;
      namespaces.delete(key);
      localRoutes.delete(key);
      natRules.delete(entry.namespace);
      await ip(['netns', 'delete', entry.namespace]).catch(() => undefined);
      await ip(['link', 'delete', entry.veth]).catch(() => undefined);
      record.namespaces = record.namespaces.filter((name) => name !== entry.namespace);
      save();
    },

    async apply(plan) {
      if (closed) return;
      const wanted = new Map<string, string>();
      for (const [external, internal] of plan.nat) wanted.set(external, internal);
      for (const [address, targets] of plan.forwarding) {
        if (targets.length > 0) wanted.set(address, [...targets].sort().join(','));
      }
      await setRoutes(wanted);
      await setNat(plan.nat);
      for (const key of namespaces.keys()) await setLocal(key, plan.local.get(key) ?? []);
    },

    async close() {
      if (closed) return;
      closed = true;
      process.removeListener('exit', onExit);
      removeRecorded(record);
      if (file !== undefined) rmSync(file, { force: true });
      block.release();
    },
  };
}
