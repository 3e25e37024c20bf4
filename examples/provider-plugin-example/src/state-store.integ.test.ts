import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createExampleProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

// Other processes load the built package, as a second `hacp` would.
const BUILT = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const stateDirs: string[] = [];

/** Runs `body` in another node process with `provider` in scope; resolves with what it prints. */
function inAnotherProcess(stateDir: string, body: string): Promise<string> {
  const program = `
    const { createExampleProvider } = await import(${JSON.stringify(pathToFileURL(BUILT).href)});
    const provider = createExampleProvider({ stateDir: ${JSON.stringify(stateDir)} });
    ${body}
  `;
  return new Promise((done, fail) => {
    // Awaited here, and not detached: it ends with the call, or with its timeout.
    execFile(
      process.execPath,
      ['--input-type=module', '-e', program],
      { timeout: 20_000 },
      (error, stdout) => (error ? fail(error) : done(stdout.trim())),
    );
  });
}

afterEach(async () => {
  for (const stateDir of stateDirs.splice(0)) await rm(stateDir, { recursive: true, force: true });
});

describe('the state store across processes', () => {
  it('needs the built package (run the build first)', () => {
    expect(existsSync(BUILT)).toBe(true);
  });

  it('of six processes putting on the same version, exactly one wins', async () => {
    const stateDir = await tempStateDir();
    stateDirs.push(stateDir);
    const state = createExampleProvider({ stateDir }).state;
    await state.put('moon/contended', { writer: 'none' }, { requestId: 'seed', expectedVersion: 0 });
    const writers = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
    const outcomes = await Promise.all(
      writers.map((writer) =>
        inAnotherProcess(
          stateDir,
          `try {
            await provider.state.put('moon/contended', { writer: '${writer}' }, { requestId: '${writer}', expectedVersion: 1 });
            console.log('won');
          } catch (error) {
            console.log(error.code);
          }`,
        ),
      ),
    );
    expect(outcomes.filter((outcome) => outcome === 'won')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== 'won')).toEqual(Array(5).fill('CONFLICT'));
    const winner = writers[outcomes.indexOf('won')];
    expect(await state.get('moon/contended')).toEqual({
      key: 'moon/contended',
      version: 2,
      value: { writer: winner },
    });
  });

  it('a lock held by one process is LOCKED for another, naming its holder', async () => {
    const stateDir = await tempStateDir();
    stateDirs.push(stateDir);
    const lock = await createExampleProvider({ stateDir }).state.lock('moon/cluster', {
      holder: 'hacp-first',
      ttlMs: 30_000,
    });
    try {
      const seen = await inAnotherProcess(
        stateDir,
        `try {
          await provider.state.lock('moon/cluster', { holder: 'hacp-second', ttlMs: 30000 });
          console.log('taken');
        } catch (error) {
          console.log(error.code + ' ' + error.details.holder);
        }`,
      );
      expect(seen).toBe('LOCKED hacp-first');
    } finally {
      await lock.release();
    }
  });
});
