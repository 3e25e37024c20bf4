import { join } from 'node:path';
import { HacpCommand } from '../../base-command.js';
import { isHacpError } from '../../errors.js';
import { namedBinaryVariables, releaseUrlForDisplay } from '../../kubernetes-binaries.js';
import { type BinariesListResult, renderBinariesList } from '../../render-kubernetes.js';

export default class BinariesList extends HacpCommand<typeof BinariesList, BinariesListResult> {
  static override summary = 'List the Kubernetes versions in the cache, and the binaries you configured.';

  static override description =
    `The versions in hacp's cache ($XDG_CACHE_HOME/hacp/kubernetes, else ~/.cache/hacp/kubernetes) with their binaries and sizes, oldest first; then the binaries HACP_KUBE_BIN_DIR and KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER name, if any, with their version (\`hacp up\` runs that version by default); and the release location downloads come from (HACP_KUBE_RELEASE_URL). A configured binary that cannot be used is a warning. It only reads.`;

  static override examples = [
    { description: 'What is cached.', command: '<%= config.bin %> binaries list' },
    {
      description: 'With your own build of the binaries.',
      command: 'HACP_KUBE_BIN_DIR=~/kubernetes/_output/bin <%= config.bin %> binaries list --json',
    },
  ];

  async run(): Promise<BinariesListResult> {
    const { findKubernetesBinaries, listCachedKubernetesBinaries } = await import('@hacp/sdk');
    const source = await this.kubernetesBinarySource();
    const result: BinariesListResult = {
      cacheDir: join(source.cacheDir, 'kubernetes'),
      releaseUrl: releaseUrlForDisplay(source.releaseUrl),
      versions: await listCachedKubernetesBinaries(source),
    };
    const variables = namedBinaryVariables(source.binaries);
    if (source.binDir === undefined && Object.keys(variables).length === 0) return result;
    result.configured = {
      ...(source.binDir === undefined ? {} : { binDir: source.binDir }),
      ...(Object.keys(variables).length === 0 ? {} : { variables }),
    };
    try {
      const found = await findKubernetesBinaries(undefined, source, { signal: this.signal });
      if (found !== undefined) result.configured.version = found.version;
    } catch (error) {
      if (!isHacpError(error) || error.code === 'ABORTED') throw error;
      this.addWarning({ code: 'KUBERNETES_BINARIES_UNUSABLE', message: error.message });
    }
    return result;
  }

  protected override renderText(result: BinariesListResult): string {
    return renderBinariesList(result);
  }
}
