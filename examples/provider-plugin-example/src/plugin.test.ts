import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isHacpError, type LogFields, missingProviderV1Members, providerPluginProblems } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import providers from './hook.js';
import examplePlugin, { createExampleProvider, EXAMPLE_VARIABLES, settingsFromHost } from './index.js';
import type { ExampleProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

const stateDirs: string[] = [];

afterEach(async () => {
  for (const stateDir of stateDirs.splice(0)) await rm(stateDir, { recursive: true, force: true });
});

describe('the plugin', () => {
  it('is a v1 provider plugin named example', () => {
    expect(providerPluginProblems(examplePlugin)).toEqual([]);
    expect(examplePlugin.name).toBe('example');
    expect(examplePlugin.description).toMatch(/Example Cloud/);
  });

  it('the hacp:providers hook returns the plugin', async () => {
    expect(await providers()).toEqual([examplePlugin]);
  });

  it('create makes a v1 provider over the host state folder, logging through the host logger', async () => {
    const stateDir = join(await tempStateDir(), 'providers', 'example');
    stateDirs.push(join(stateDir, '..', '..'));
    const lines: { message: string; fields?: LogFields }[] = [];
    const record = (message: string, fields?: LogFields) => lines.push({ message, fields });
    const logger = { debug: record, info: record, warn: record, error: record };
    const provider = (await examplePlugin.create({ stateDir, env: {}, logger })) as ExampleProvider;
    expect(missingProviderV1Members(provider)).toEqual([]);
    expect(provider.name).toBe('example');
    expect(provider.stateDir).toBe(stateDir);
    // The folder may not exist yet: the provider makes it.
    const address = await provider.addresses.reserve(
      { name: 'moon-master-ip', region: 'moon-east' },
      { requestId: 'r1' },
    );
    expect(lines).toContainEqual({
      message: 'reserved address',
      fields: { address: 'moon-master-ip', ip: address.ip },
    });
  });

  it('reads HACP_EXAMPLE_START_CHECK_MS and HACP_EXAMPLE_STOP_GRACE_MS', () => {
    const env = {
      [EXAMPLE_VARIABLES.startCheckMs]: '250',
      [EXAMPLE_VARIABLES.stopGraceMs]: '3000',
      PATH: '/bin',
    };
    // The host environment gives the variables only: processes keep this process's PATH.
    expect(settingsFromHost({ stateDir: '/tmp/x', env })).toEqual({
      stateDir: '/tmp/x',
      startCheckMs: 250,
      stopGraceMs: 3000,
    });
    expect(settingsFromHost({ stateDir: '/tmp/x', env: {} })).toEqual({ stateDir: '/tmp/x' });
    // Without an env (a caller that skips the host), the variables come from this process.
    process.env[EXAMPLE_VARIABLES.stopGraceMs] = '1234';
    try {
      const host = { stateDir: '/tmp/x' } as Parameters<typeof settingsFromHost>[0];
      expect(settingsFromHost(host)).toEqual({ stateDir: '/tmp/x', stopGraceMs: 1234 });
    } finally {
      delete process.env[EXAMPLE_VARIABLES.stopGraceMs];
    }
  });

  it('refuses a variable that is not a whole number of milliseconds, naming it', () => {
    for (const value of ['1.5', '-1', 'soon']) {
      let error: unknown;
      try {
        settingsFromHost({ stateDir: '/tmp/x', env: { HACP_EXAMPLE_STOP_GRACE_MS: value } });
      } catch (thrown) {
        error = thrown;
      }
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: unknown }).details).toEqual({ field: 'HACP_EXAMPLE_STOP_GRACE_MS', value });
    }
  });

  it('the factory refuses a missing stateDir and a negative duration', () => {
    expect(() => createExampleProvider({ stateDir: '' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'stateDir' } }),
    );
    expect(() => createExampleProvider({ stateDir: '/tmp/x', startCheckMs: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'startCheckMs', value: -1 } }),
    );
  });
});
