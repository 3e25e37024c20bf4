import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { parseAddonManagerFlags } from './flags.js';

function refusal(args: string[]): { message: string; details: unknown } {
  try {
    parseAddonManagerFlags(args);
  } catch (error) {
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    return error as { message: string; details: unknown };
  }
  throw new Error('expected a refusal');
}

describe('parseAddonManagerFlags', () => {
  it('reads the flags as the SDK renders them, with a 10 s default interval', () => {
    expect(
      parseAddonManagerFlags(['--kubeconfig', '/r/addon-manager.conf', '--addons-dir', '/r/addons']),
    ).toEqual({
      kubeconfig: '/r/addon-manager.conf',
      addonsDir: '/r/addons',
      intervalSeconds: 10,
      help: false,
    });
  });

  it('takes --flag=value and a fractional interval', () => {
    const flags = parseAddonManagerFlags(['--kubeconfig=k', '--addons-dir=a', '--interval-seconds=0.5']);
    expect(flags).toMatchObject({ kubeconfig: 'k', addonsDir: 'a', intervalSeconds: 0.5 });
  });

  it('needs nothing else with --help', () => {
    expect(parseAddonManagerFlags(['--help']).help).toBe(true);
  });

  it.each([
    [['--kubeconfig', 'k', '--addons-dir', 'a', '--bogus'], "Unknown option '--bogus'", 'arguments'],
    [['--kubeconfig', 'k', '--addons-dir', 'a', 'extra'], 'extra', 'arguments'],
    [['--addons-dir', 'a'], '--kubeconfig is required.', 'kubeconfig'],
    [['--kubeconfig', 'k'], '--addons-dir is required.', 'addons-dir'],
    [
      ['--kubeconfig', 'k', '--addons-dir', 'a', '--interval-seconds', 'ten'],
      'not "ten"',
      'interval-seconds',
    ],
    [['--kubeconfig', 'k', '--addons-dir', 'a', '--interval-seconds', '0'], 'above 0', 'interval-seconds'],
    [['--kubeconfig', 'k', '--addons-dir', 'a', '--interval-seconds=-1'], 'above 0', 'interval-seconds'],
    [['--kubeconfig', 'k', '--addons-dir', 'a', '--interval-seconds', ''], 'not ""', 'interval-seconds'],
  ])('refuses %j', (args, message, field) => {
    const error = refusal(args);
    expect(error.message).toContain(message);
    expect(error.details).toMatchObject({ field });
  });
});
