import { describe, expect, it } from 'vitest';
import { unknownCommand } from './not-found.js';

const COMMANDS = ['status', 'up', 'down', 'replicate', 'remove', 'zone fail', 'zone restore', 'certs renew'];

describe('unknownCommand', () => {
  it('names the closest command', () => {
    const error = unknownCommand('statuss', COMMANDS);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('There is no command `hacp statuss`.');
    expect(error.actions[0]).toBe('Did you mean `hacp status`?');
    expect(unknownCommand('zone fial', COMMANDS).actions[0]).toBe('Did you mean `hacp zone fail`?');
    expect(unknownCommand('replciate', COMMANDS).actions[0]).toBe('Did you mean `hacp replicate`?');
    // oclif hands over the arguments with the words it could not match.
    expect(unknownCommand('zone fial local-b', COMMANDS).actions[0]).toBe('Did you mean `hacp zone fail`?');
  });

  it('suggests nothing far away, and always points at --help', () => {
    const error = unknownCommand('frobnicate', COMMANDS);
    expect(error.actions).toEqual(['Run `hacp --help` to list the commands.']);
  });
});
