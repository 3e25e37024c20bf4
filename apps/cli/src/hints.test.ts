import { describe, expect, it } from 'vitest';
import { withGivenFlags } from './hints.js';

describe('withGivenFlags', () => {
  it('adds the flags the user gave to every hacp command a hint names', () => {
    expect(withGivenFlags('Run `hacp resume` to continue.', { cluster: 'solo' })).toBe(
      'Run `hacp resume --cluster solo` to continue.',
    );
    expect(
      withGivenFlags('Run `hacp down --yes`, or `hacp replace --replica <name>`.', {
        cluster: 'solo',
        'state-dir': '/srv/my state',
      }),
    ).toBe(
      "Run `hacp down --yes --cluster solo --state-dir '/srv/my state'`, or `hacp replace --replica <name> --cluster solo --state-dir '/srv/my state'`.",
    );
  });

  it('keeps a flag the hint names already, and leaves text without commands or flags alone', () => {
    expect(withGivenFlags('Run `hacp status --provider gce`.', { provider: 'gce', project: 'p-1' })).toBe(
      'Run `hacp status --provider gce --project p-1`.',
    );
    expect(withGivenFlags('Nothing to run here.', { cluster: 'solo' })).toBe('Nothing to run here.');
    expect(withGivenFlags('Run `hacp resume`.', {})).toBe('Run `hacp resume`.');
    expect(withGivenFlags('Run `hacp certs renew && hacp certs check`.', { cluster: 'x' })).toBe(
      'Run `hacp certs renew && hacp certs check`.',
    );
  });
});
