import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  API_SERVER_IDENTITY_GENERATIONS,
  apiServerIdentityLabels,
  apiServerIdentityName,
  base32Lower,
  hasIdentityLabel,
  identityGenerationOf,
} from './names.js';
import { thrown } from './test-support.js';

describe('apiServerIdentityName', () => {
  it.each([
    ['master-1', 'apiserver-wj467rbl25eeviqacfhvg2yvnm'],
    ['kubernetes-master', 'apiserver-mpzb65c4laynqu6rnedjohxo3e'],
  ])('gives the 1.27 name of %s as real clusters do', (hostname, name) => {
    expect(apiServerIdentityName({ hostname, generation: '1.27' })).toBe(name);
  });

  it.each([
    ['vm', 'kube-apiserver-lphjr5z7h3imqn7sokpnsue3ha'],
    ['kas-second', 'kube-apiserver-fe54i3uvaaqups2qwdffje62qy'],
  ])('gives the 1.26 name of %s as real clusters do', (hostname, name) => {
    expect(apiServerIdentityName({ hostname, generation: '1.26' })).toBe(name);
  });

  it('gives 1.20 names from a UUID, a fresh one per call unless one is given', () => {
    const uuid = '0b6d2a4e-1c3f-4a5b-8c7d-9e0f1a2b3c4d';
    expect(apiServerIdentityName({ hostname: 'vm', generation: '1.20', uuid })).toBe(
      `kube-apiserver-${uuid}`,
    );
    const first = apiServerIdentityName({ hostname: 'vm', generation: '1.20' });
    const second = apiServerIdentityName({ hostname: 'vm', generation: '1.20' });
    expect(first).toMatch(/^kube-apiserver-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(second).not.toBe(first);
  });

  it('hashes a length-prefixed pair in 1.27, so the hostname/component boundary matters', () => {
    // Without the length prefixes, ("ab", "c") and ("a", "bc") would collide.
    const name = apiServerIdentityName({ hostname: 'master-1kube-apiserver', generation: '1.27' });
    expect(name).not.toBe(apiServerIdentityName({ hostname: 'master-1', generation: '1.27' }));
  });

  it('makes names of the shape each generation has, for any hostname', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,40}$/), (hostname) => {
        expect(apiServerIdentityName({ hostname, generation: '1.26' })).toMatch(
          /^kube-apiserver-[a-z2-7]{26}$/,
        );
        expect(apiServerIdentityName({ hostname, generation: '1.27' })).toMatch(/^apiserver-[a-z2-7]{26}$/);
      }),
    );
  });

  it('refuses an empty hostname, naming the field and what to pass', () => {
    const error = thrown(() => apiServerIdentityName({ hostname: '', generation: '1.27' }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ field: 'hostname' });
    expect(error.message).toMatch(/hostname is empty/);
  });

  it('refuses a hostname with whitespace', () => {
    const error = thrown(() => apiServerIdentityName({ hostname: 'master 1', generation: '1.26' }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('hostname');
  });

  it.each(['1.25', '1.28', '', 127])(
    'refuses the unknown generation %j, listing the known ones',
    (generation) => {
      const error = thrown(() =>
        apiServerIdentityName({ hostname: 'vm', generation: generation as unknown as '1.27' }),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.details.field).toBe('generation');
      expect(error.message).toContain("'1.20'");
      expect(error.message).toContain("'1.27'");
    },
  );

  it('refuses a malformed 1.20 uuid', () => {
    const error = thrown(() =>
      apiServerIdentityName({ hostname: 'vm', generation: '1.20', uuid: 'not-a-uuid' }),
    );
    expect(error.details).toEqual({ field: 'uuid', value: 'not-a-uuid' });
  });
});

describe('base32Lower', () => {
  it.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ])('encodes the RFC 4648 vector %j without padding', (input, output) => {
    expect(base32Lower(Buffer.from(input))).toBe(output);
  });

  it('gives 26 characters for the 16 hash bytes', () => {
    expect(base32Lower(createHash('sha256').update('x').digest().subarray(0, 16))).toHaveLength(26);
  });
});

describe('apiServerIdentityLabels', () => {
  it('labels each generation as its apiservers do', () => {
    expect(apiServerIdentityLabels({ hostname: 'vm', generation: '1.20' })).toEqual({
      'k8s.io/component': 'kube-apiserver',
    });
    expect(apiServerIdentityLabels({ hostname: 'vm', generation: '1.26' })).toEqual({
      'k8s.io/component': 'kube-apiserver',
      'kubernetes.io/hostname': 'vm',
    });
    expect(apiServerIdentityLabels({ hostname: 'master-1', generation: '1.27' })).toEqual({
      'apiserver.kubernetes.io/identity': 'kube-apiserver',
      'kubernetes.io/hostname': 'master-1',
    });
  });

  it('refuses a hostname that cannot be a label value where the generation labels it', () => {
    const hostname = 'a'.repeat(64);
    expect(apiServerIdentityLabels({ hostname, generation: '1.20' })).toEqual({
      'k8s.io/component': 'kube-apiserver',
    });
    const error = thrown(() => apiServerIdentityLabels({ hostname, generation: '1.27' }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('kubernetes.io/hostname');
  });
});

describe('identityGenerationOf', () => {
  it('recognises the lease each generation writes', () => {
    for (const generation of API_SERVER_IDENTITY_GENERATIONS) {
      const name = apiServerIdentityName({ hostname: 'master-1', generation });
      const labels = apiServerIdentityLabels({ hostname: 'master-1', generation });
      expect(identityGenerationOf({ name, labels })).toBe(generation);
      expect(hasIdentityLabel(labels)).toBe(true);
    }
  });

  it('says undefined for an unlabelled lease and unknown for an odd legacy name', () => {
    expect(identityGenerationOf({ name: 'kube-scheduler', labels: {} })).toBeUndefined();
    expect(hasIdentityLabel({})).toBe(false);
    expect(identityGenerationOf({ name: 'custom', labels: { 'k8s.io/component': 'kube-apiserver' } })).toBe(
      'unknown',
    );
  });
});
