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

/** Reads or deletes the replica's marker: false when the API answers that it does not exist. */
async function markerRequest(
  kubeconfig: KubeConfig,
  replica: string,
  verb: 'read' | 'delete',
): Promise<boolean> {
  const { CoreV1Api } = await kubernetes();
  const api = kubeconfig.makeApiClient(CoreV1Api);
  const target = { name: addonMarkerName(replica), namespace: ADDON_MARKER_NAMESPACE };
  try {
    await (verb === 'read' ? api.readNamespacedConfigMap(target) : api.deleteNamespacedConfigMap(target));
    return true;
  } catch (error) {
    const answer = kubernetesApiAnswerOf(error);
    if (answer?.httpStatus === 404) return false;
    const forbidden = answer?.httpStatus === 401 || answer?.httpStatus === 403;
    throw new HacpError({
      code: forbidden ? ErrorCode.PERMISSION_DENIED : ErrorCode.UNAVAILABLE,
      message: `${verb === 'read' ? 'Reading' : 'Deleting'} ConfigMap ${target.namespace}/${target.name} failed: ${answer ? `HTTP ${answer.httpStatus}` : (error as Error).message}.`,
      actions: ['Check that the Kubernetes API answers, then run `hacp resume`.'],
      details: { replica, configMap: target.name },
      retryable: !forbidden,
      cause: error,
    });
  }
}

/**
 * Whether the replica's marker exists.
 * @throws HacpError UNAVAILABLE (retryable) when the API does not answer or fails; PERMISSION_DENIED.
 */
export function addonMarkerExists(kubeconfig: KubeConfig, replica: string): Promise<boolean> {
  return markerRequest(kubeconfig, replica, 'read');
}

/**
 * Deletes the replica's marker; false when it was already gone.
 * @throws HacpError UNAVAILABLE (retryable) when the API does not answer or fails; PERMISSION_DENIED.
 */
export function deleteAddonMarker(kubeconfig: KubeConfig, replica: string): Promise<boolean> {
  return markerRequest(kubeconfig, replica, 'delete');
}
