// What the demo asks of the cluster's Kubernetes API through its endpoint, with the admin kubeconfig
// `hacp up` wrote, for machines without kubectl (demo.sh runs kubectl itself where it is installed):
//   node scripts/demo-kube.mjs <kubeconfig> readyz        kubectl get --raw /readyz
//   node scripts/demo-kube.mjs <kubeconfig> deploy <name>  a Node (no kubelet runs here) and a
//                                                           Deployment of 3, until every pod has a node
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(import.meta.dirname, '..', 'apps', 'sdk', 'package.json'));
const { AppsV1Api, CoreV1Api, KubeConfig } = await import(require.resolve('@kubernetes/client-node'));

const [kubeconfigPath, command, name] = process.argv.slice(2);
const config = new KubeConfig();
config.loadFromFile(kubeconfigPath);

async function readyz() {
  const server = config.getCurrentCluster().server;
  const options = {};
  await config.applyToHTTPSOptions(options);
  const { request } = await import('node:https');
  const url = new URL('/readyz', server);
  const body = await new Promise((resolve, reject) => {
    const req = request(
      { ...options, host: url.hostname, port: url.port, path: url.pathname },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end();
  });
  console.log(body);
}

async function deploy(deployment) {
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const node = `${deployment}-node`;
  const now = new Date();
  await core.createNode({
    body: {
      metadata: { name: node },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
        allocatable: { cpu: '8', memory: '16Gi', pods: '110' },
        capacity: { cpu: '8', memory: '16Gi', pods: '110' },
      },
    },
  });
  await apps.createNamespacedDeployment({
    namespace: 'default',
    body: {
      metadata: { name: deployment },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: deployment } },
        template: {
          metadata: { labels: { app: deployment } },
          spec: { containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.9' }] },
        },
      },
    },
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: `app=${deployment}` }))
      .items;
    if (pods.length === 3 && pods.every((pod) => pod.spec?.nodeName)) {
      console.log('NAME'.padEnd(36), 'NODE');
      for (const pod of pods) console.log(pod.metadata.name.padEnd(36), pod.spec.nodeName);
      return;
    }
    if (Date.now() > deadline)
      throw new Error(`the pods of ${deployment} were not all scheduled within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

if (command === 'readyz') await readyz();
else if (command === 'deploy') await deploy(name ?? 'hello');
else {
  console.error('usage: demo-kube.mjs <kubeconfig> readyz | deploy <name>');
  process.exit(2);
}
