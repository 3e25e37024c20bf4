import { describe, expect, it } from 'vitest';
import { commandLine } from './argv.js';

describe('commandLine', () => {
  it('moves global flags typed before the command after it', () => {
    expect(commandLine(['--cluster', 'x', 'status'])).toEqual(['status', '--cluster', 'x']);
    expect(commandLine(['--cluster=x', '--json', 'zone', 'fail', 'local-b'])).toEqual([
      'zone',
      'fail',
      'local-b',
      '--cluster=x',
      '--json',
    ]);
  });

  it('turns help <command> into <command> --help', () => {
    expect(commandLine(['help', 'up'])).toEqual(['up', '--help']);
    expect(commandLine(['help', 'zone', 'fail'])).toEqual(['zone', 'fail', '--help']);
    expect(commandLine(['help'])).toEqual(['--help']);
    expect(commandLine(['up', '-h'])).toEqual(['up', '--help']);
    expect(commandLine(['kube-up', '--', '-h'])).toEqual(['kube-up', '--', '-h']);
  });

  it('leaves everything else as it was typed', () => {
    expect(commandLine(['status', '--cluster', 'x'])).toEqual(['status', '--cluster', 'x']);
    expect(commandLine(['--version'])).toEqual(['--version']);
    expect(commandLine([])).toEqual([]);
    expect(commandLine(['--cluster'])).toEqual(['--cluster']);
  });
});
