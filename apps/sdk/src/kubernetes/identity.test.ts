import { describe, expect, it } from 'vitest';
import { attributeIdentities } from './identity.js';

const replica = (name: string, running = true) => ({ name, hostname: name, running });

describe('attributeIdentities', () => {
  it('maps leases by their hostname label, stale ones included', () => {
    const owners = attributeIdentities(
      [
        { leaseName: 'apiserver-a', hostname: 'm-a', stale: false },
        { leaseName: 'apiserver-b', hostname: 'm-b', stale: true },
        { leaseName: 'apiserver-x', hostname: 'elsewhere', stale: false },
      ],
      [replica('m-a'), replica('m-b')],
    );
    expect([...owners]).toEqual([
      ['apiserver-a', 'm-a'],
      ['apiserver-b', 'm-b'],
    ]);
  });

  it('gives the one live unlabelled lease to the one running replica without a live lease (a 1.23 restart)', () => {
    const owners = attributeIdentities(
      [
        { leaseName: 'kube-apiserver-old', hostname: 'm-a', stale: true },
        { leaseName: 'kube-apiserver-new', hostname: undefined, stale: false },
        { leaseName: 'kube-apiserver-b', hostname: 'm-b', stale: false },
      ],
      [replica('m-a'), replica('m-b')],
    );
    expect(owners.get('kube-apiserver-new')).toBe('m-a');
    expect(owners.get('kube-apiserver-old')).toBe('m-a');
  });

  it('leaves unlabelled leases unattributed when it cannot tell', () => {
    const two = attributeIdentities(
      [
        { leaseName: 'kube-apiserver-1', hostname: undefined, stale: false },
        { leaseName: 'kube-apiserver-2', hostname: undefined, stale: false },
      ],
      [replica('m-a'), replica('m-b')],
    );
    expect(two.size).toBe(0);
    // The old lease is still live: the replica is not known to have restarted.
    const live = attributeIdentities(
      [
        { leaseName: 'kube-apiserver-old', hostname: 'm-a', stale: false },
        { leaseName: 'kube-apiserver-new', hostname: undefined, stale: false },
      ],
      [replica('m-a')],
    );
    expect(live.has('kube-apiserver-new')).toBe(false);
    // A stopped replica's apiserver writes nothing.
    const stopped = attributeIdentities(
      [{ leaseName: 'kube-apiserver-new', hostname: undefined, stale: false }],
      [replica('m-a', false)],
    );
    expect(stopped.size).toBe(0);
  });
});
