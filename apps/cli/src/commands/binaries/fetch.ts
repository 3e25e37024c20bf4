import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { readStringVariable } from '../../env.js';
import { binaryLocations } from '../../kubernetes-binaries.js';
import { type BinariesFetchResult, renderBinariesFetch } from '../../render-kubernetes.js';

export default class BinariesFetch extends HacpCommand<typeof BinariesFetch, BinariesFetchResult> {
  static override summary =
    "Download a Kubernetes version's binaries into the cache, checked against their digests.";

  static override description =
    `Resolves the version (a spec such as 1.23, stable-1.23 or latest-1.32 is read from the release location's marker files), then finds kube-apiserver, kube-controller-manager and kube-scheduler of that version (HACP_KUBE_BIN_DIR, then KUBE_APISERVER, ..., then the cache) and downloads what is missing from HACP_KUBE_RELEASE_URL (default https://dl.k8s.io/release; https, http or file) into the cache, every file checked against the .sha256 beside it. A download never leaves a half-written version in the cache. On a terminal a bar shows each download.`;

  static override examples = [
    {
      description: 'The newest 1.23.',
      command: '<%= config.bin %> binaries fetch --kubernetes-version 1.23',
    },
    {
      description: 'From a mirror on disk.',
      command:
        'HACP_KUBE_RELEASE_URL=file:///srv/kubernetes/release <%= config.bin %> binaries fetch --kubernetes-version v1.23.16',
    },
  ];

  static override flags = {
    'kubernetes-version': Flags.string({
      summary: 'The version: v1.23.16, 1.23, stable-1.23, latest-1.32.',
      description:
        'Default: $HACP_KUBERNETES_VERSION, else stable-1.32 (what `hacp up` picks without binaries).',
      helpValue: '<version>',
    }),
  };

  async run(): Promise<BinariesFetchResult> {
    const sdk = await import('@hacp/sdk');
    const requested =
      this.flags['kubernetes-version'] ??
      readStringVariable(this.io.env, 'HACP_KUBERNETES_VERSION') ??
      sdk.DEFAULT_KUBERNETES_VERSION;
    const source = await this.kubernetesBinarySource();
    const { version } = await sdk.resolveKubernetesVersion(requested, {
      releaseUrl: source.releaseUrl,
      signal: this.signal,
    });
    let downloaded = false;
    const found = await sdk.ensureKubernetesBinaries(version, source, {
      signal: this.signal,
      onProgress: (progress) => {
        downloaded = true;
        this.showDownload(progress);
      },
    });
    return { requested, version: found.version, downloaded, binaries: binaryLocations(found) };
  }

  protected override renderText(result: BinariesFetchResult): string {
    return renderBinariesFetch(result);
  }
}
