/**
 * The add-on manager's marker: a ConfigMap per replica in kube-system, an `EnsureExists` add-on that
 * only that replica's add-on folder holds. Neither hacp's add-on manager nor the kube-addon-manager
 * image has a health port; the marker existing says the replica's manager has run and applied its
 * folder. `EnsureExists`, so both managers create it when it is missing and never prune another
 * replica's.
 */
import { ErrorCode, HacpError, kubernetesApiAnswerOf, type NodeFile } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { KUBERNETES_FILES } from './components.js';

const kubernetes = () => import('@kubernetes/client-node');

export const ADDON_MARKER_NAMESPACE = 'kube-system';

/** The marker ConfigMap's name: `hacp-addon-manager-<replica>`. */
export const addonMarkerName = (replica: string) => `hacp-addon-manager-${replica}`;

/**
 * The replica's marker as a file of its add-on folder. It lives in the subfolder `hacp/`, which the
 * operator's add-ons never reach: they are the top-level files of `<dataDir>/addons`, copied by name.
 */
export function addonMarkerFile(replica: string): NodeFile {
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: addonMarkerName(replica),
      namespace: ADDON_MARKER_NAMESPACE,
      labels: { 'addonmanager.kubernetes.io/mode': 'EnsureExists' },
    },
    data: { replica },
  };
  return {
    path: `${KUBERNETES_FILES.addonsDir}/hacp/addon-manager-${replica}.json`,
    mode: 0o644,
    contents: `${JSON.stringify(configMap, null, 2)}\n`,
  };
}

function apiFailed(replica: string, what: string, error: unknown): HacpError {
  const answer = kubernetesApiAnswerOf(error);
  const forbidden = answer?.httpStatus === 401 || answer?.httpStatus === 403;
  return new HacpError({
    code: forbidden ? ErrorCode.PERMISSION_DENIED : ErrorCode.UNAVAILABLE,
    message: `${what} ConfigMap ${ADDON_MARKER_NAMESPACE}/${addonMarkerName(replica)} failed: ${answer ? `HTTP ${answer.httpStatus}` : (error as Error).message}.`,
    actions: ['Check that the Kubernetes API answers, then run `hacp resume`.'],
    details: { replica, configMap: addonMarkerName(replica) },
    retryable: !forbidden,
    cause: error,
  });
}

/**
 * Whether the replica's marker exists.
 * @throws HacpError UNAVAILABLE (retryable) when the API does not answer or fails; PERMISSION_DENIED.
 */
export async function addonMarkerExists(kubeconfig: KubeConfig, replica: string): Promise<boolean> {
  const { CoreV1Api } = await kubernetes();
  try {
    await kubeconfig
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: addonMarkerName(replica), namespace: ADDON_MARKER_NAMESPACE });
    return true;
  } catch (error) {
    if (kubernetesApiAnswerOf(error)?.httpStatus === 404) return false;
    throw apiFailed(replica, 'Reading', error);
  }
}
