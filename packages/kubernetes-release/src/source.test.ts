import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { displayUrl } from './errors.js';
import {
  DEFAULT_RELEASE_URL,
  kubernetesBinarySourceFromEnv,
  releaseArch,
  releaseBase,
  releaseFileUrl,
  versionCacheDir,
} from './source.js';

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected it to throw');
}

describe('kubernetesBinarySourceFromEnv', () => {
  it('defaults to the official location and ~/.cache/hacp', () => {
    expect(kubernetesBinarySourceFromEnv({}, { home: '/home/op' })).toEqual({
      cacheDir: '/home/op/.cache/hacp',
      releaseUrl: DEFAULT_RELEASE_URL,
    });
  });

  it('reads every variable, making paths absolute', () => {
    const source = kubernetesBinarySourceFromEnv(
      {
        XDG_CACHE_HOME: '/var/cache/op',
        HACP_KUBE_BIN_DIR: '/opt/k8s/bin',
        KUBE_APISERVER: '/opt/a/kube-apiserver',
        KUBE_CONTROLLER_MANAGER: 'bin/kcm',
        KUBE_SCHEDULER: ' ',
        HACP_KUBE_RELEASE_URL: 'file:///srv/release',
      },
      { home: '/home/op' },
    );
    expect(source).toEqual({
      binDir: '/opt/k8s/bin',
      binaries: {
        'kube-apiserver': '/opt/a/kube-apiserver',
        'kube-controller-manager': `${process.cwd()}/bin/kcm`,
      },
      cacheDir: '/var/cache/op/hacp',
      releaseUrl: 'file:///srv/release',
    });
  });

  it('ignores a relative XDG_CACHE_HOME, as the XDG specification says', () => {
    expect(kubernetesBinarySourceFromEnv({ XDG_CACHE_HOME: 'cache' }, { home: '/home/op' }).cacheDir).toBe(
      '/home/op/.cache/hacp',
    );
  });
});

describe('releaseArch', () => {
  it("maps Node's architecture to the release's", () => {
    expect(releaseArch({}, 'x64')).toBe('amd64');
    expect(releaseArch({}, 'arm64')).toBe('arm64');
    expect(releaseArch({ arch: 's390x' }, 'x64')).toBe('s390x');
  });

  it('refuses an architecture with no release, or one that is not a plain name', () => {
    expect(
      isHacpError(
        thrown(() => releaseArch({}, 'ia32')),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isHacpError(
        thrown(() => releaseArch({ arch: '../amd64' })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});

describe('releaseBase and releaseFileUrl', () => {
  it('take https, http and file URLs, without the trailing slash, and keep + in versions', () => {
    expect(releaseBase('https://dl.k8s.io/release/').href).toBe('https://dl.k8s.io/release');
    const base = releaseBase('file:///srv/release');
    expect(
      releaseFileUrl(base, 'v1.32.0-beta.0.0+cd13ec4ae44e/kubernetes-server-linux-amd64.tar.gz').href,
    ).toBe('file:///srv/release/v1.32.0-beta.0.0+cd13ec4ae44e/kubernetes-server-linux-amd64.tar.gz');
    expect(releaseFileUrl(releaseBase('http://127.0.0.1:8080'), 'stable.txt').href).toBe(
      'http://127.0.0.1:8080/stable.txt',
    );
  });

  it.each(['dl.k8s.io/release', 'ftp://mirror/release', 'https://mirror/release?x=1', ''])(
    'refuses %j',
    (url) => {
      const error = thrown(() => releaseBase(url));
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe('releaseUrl');
      expect((error as { actions: string[] }).actions.join(' ')).toContain('HACP_KUBE_RELEASE_URL');
    },
  );

  it('keeps credentials in a URL out of what errors show', () => {
    expect(displayUrl('https://op:s3cret@mirror.example/release')).toBe('https://mirror.example/release');
  });
});

describe('versionCacheDir', () => {
  it('is <cacheDir>/kubernetes/<version>, and the cache folder must be absolute', () => {
    expect(versionCacheDir({ cacheDir: '/c/hacp' }, 'v1.23.16')).toBe('/c/hacp/kubernetes/v1.23.16');
    expect(
      isHacpError(
        thrown(() => versionCacheDir({ cacheDir: 'rel' }, 'v1.23.16')),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});
