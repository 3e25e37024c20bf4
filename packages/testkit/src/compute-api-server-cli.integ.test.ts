import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// The built CLI, as `pnpm --filter @hacp/testkit compute-server` runs it (turbo builds the package
// before its tests).
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'compute-server-cli.js');

let scratch: string;
const children: ChildProcessWithoutNullStreams[] = [];

/** Starts the CLI; resolves once it printed its URL line. */
function startCli(
  args: string[],
): Promise<{ child: ChildProcessWithoutNullStreams; url: string; output: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe' });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the CLI printed no URL in 15 s:\n${output}`)), 15_000);
    const check = () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => output });
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the CLI exited with ${code}:\n${output}`));
    });
  });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hacp-compute-cli-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await exited(child);
    }
  }
});

afterAll(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

describe('compute-server CLI', () => {
  it('starts, answers as the API, and stops on SIGTERM', async () => {
    const { child, url, output } = await startCli([
      '--port',
      '0',
      '--project',
      'hacp-cli-test',
      '--latency-ms',
      '0',
      '--boot-dir',
      join(scratch, 'vms'),
    ]);
    expect(output()).toContain('CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=');
    const zones = await fetch(`${url}/compute/v1/projects/hacp-cli-test/zones`);
    expect(zones.status).toBe(200);
    const body = (await zones.json()) as { kind: string; items: { name: string }[] };
    expect(body.kind).toBe('compute#zoneList');
    expect(body.items.map((zone) => zone.name)).toContain('europe-west1-b');
    const other = await fetch(`${url}/compute/v1/projects/hacp-test/zones`);
    expect(other.status).toBe(404);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    expect(output()).toContain('SIGTERM: stopping');
    await expect(fetch(`${url}/compute/v1/projects/hacp-cli-test/zones`)).rejects.toThrow();
  });

  it('refuses a bad flag value with exit code 2 and the usage', async () => {
    const child = spawn(process.execPath, [CLI, '--latency-ms', 'soon'], { stdio: 'pipe' });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    expect(await exited(child)).toBe(2);
    expect(stderr).toContain('--latency-ms must be a whole number >= 0, got "soon"');
    expect(stderr).toContain('Usage: compute-server');
  });
});
