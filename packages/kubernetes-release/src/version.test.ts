import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  compareKubernetesVersions,
  isKubernetesVersionSpec,
  parseKubernetesVersion,
  versionMarker,
} from './version.js';

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected it to throw');
}

describe('parseKubernetesVersion', () => {
  it('normalises exact versions with a leading v and splits them', () => {
    expect(parseKubernetesVersion('v1.23.16')).toEqual({
      version: 'v1.23.16',
      major: 1,
      minor: 23,
      patch: 16,
    });
    expect(parseKubernetesVersion('1.23.16').version).toBe('v1.23.16');
    expect(parseKubernetesVersion(' v1.30.0 \n').version).toBe('v1.30.0');
    expect(parseKubernetesVersion('v1.32.0-beta.0.0+cd13ec4ae44e')).toEqual({
      version: 'v1.32.0-beta.0.0+cd13ec4ae44e',
      major: 1,
      minor: 32,
      patch: 0,
      prerelease: 'beta.0.0',
      build: 'cd13ec4ae44e',
    });
    expect(parseKubernetesVersion('1.31.0-rc.1').prerelease).toBe('rc.1');
  });

  it('refuses specs with INVALID_ARGUMENT saying to resolve them', () => {
    const error = thrown(() => parseKubernetesVersion('1.23'));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('is a version spec');
    expect((error as { details: { field: string } }).details.field).toBe('version');
  });

  it.each(['', 'v1', '1.2.3.4', 'v01.2.3', 'latest', '1.23.x', 'v1.2.3-', 'v1.2.3+', '1.2.3 4', 'x1.2.3'])(
    'refuses %j',
    (text) => {
      expect(
        isHacpError(
          thrown(() => parseKubernetesVersion(text)),
          'INVALID_ARGUMENT',
        ),
      ).toBe(true);
    },
  );
});

describe('isKubernetesVersionSpec', () => {
  it.each([
    'v1.23.16',
    '1.23.16',
    'v1.32.0-beta.0.0+cd13ec4ae44e',
    '1.23',
    'v1.23',
    'stable-1.23',
    'latest-1.32',
    'stable',
    'latest',
    'stable-1',
    'latest-1',
  ])('accepts %s', (text) => {
    expect(isKubernetesVersionSpec(text)).toBe(true);
  });

  it.each(['', '1', 'newest', 'stable-', 'stable-1.2.3', 'latest-x', '1.23.', 'stable1.23', '../stable'])(
    'rejects %j',
    (text) => {
      expect(isKubernetesVersionSpec(text)).toBe(false);
    },
  );
});

describe('versionMarker', () => {
  it('names the marker file and the line it promises', () => {
    expect(versionMarker('1.23')).toEqual({ name: 'stable-1.23', major: 1, minor: 23 });
    expect(versionMarker('stable-1.23')).toEqual({ name: 'stable-1.23', major: 1, minor: 23 });
    expect(versionMarker('latest-1.32')).toEqual({ name: 'latest-1.32', major: 1, minor: 32 });
    expect(versionMarker('stable-1')).toEqual({ name: 'stable-1', major: 1 });
    expect(versionMarker('latest')).toEqual({ name: 'latest' });
    expect(versionMarker('v1.23.16')).toBeUndefined();
  });

  it('refuses what is neither a version nor a spec', () => {
    expect(
      isHacpError(
        thrown(() => versionMarker('../../etc/passwd')),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});

describe('compareKubernetesVersions', () => {
  it('orders as semver: numbers numerically, a pre-release before its release', () => {
    const sorted = [
      'v1.32.0',
      'v1.9.0',
      'v1.32.0-beta.0.0+cd13ec4ae44e',
      'v1.23.16',
      'v1.32.0-alpha.3',
      'v1.23.2',
    ]
      .map(parseKubernetesVersion)
      .sort(compareKubernetesVersions)
      .map((version) => version.version);
    expect(sorted).toEqual([
      'v1.9.0',
      'v1.23.2',
      'v1.23.16',
      'v1.32.0-alpha.3',
      'v1.32.0-beta.0.0+cd13ec4ae44e',
      'v1.32.0',
    ]);
  });
});
