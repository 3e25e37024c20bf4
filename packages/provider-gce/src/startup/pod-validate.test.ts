import { describe, expect, it } from 'vitest';
import { podProblems } from './pod-validate.test-support.js';

const validPod = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'etcd', namespace: 'kube-system', labels: { component: 'etcd' } },
  spec: {
    hostNetwork: true,
    priority: 2000001000,
    containers: [
      {
        name: 'etcd',
        image: 'registry.k8s.io/etcd:3.5.16-0',
        command: ['etcd', '--name=a'],
        livenessProbe: { httpGet: { host: '127.0.0.1', port: 2381, path: '/health', scheme: 'HTTP' } },
        volumeMounts: [{ name: 'root', mountPath: '/mnt' }],
      },
    ],
    volumes: [{ name: 'root', hostPath: { path: '/mnt', type: 'DirectoryOrCreate' } }],
  },
});

describe('podProblems', () => {
  it('accepts a valid pod', () => {
    expect(podProblems(validPod())).toEqual([]);
  });

  const DELETE = Symbol('delete');
  it.each([
    ['a misspelled spec field', 'spec.hostNetwrok', true, 'pod.spec.hostNetwrok: no such field in V1PodSpec'],
    [
      'an unknown field deep inside a probe',
      'spec.containers.0.livenessProbe.httpGet.hots',
      'x',
      'pod.spec.containers[0].livenessProbe.httpGet.hots: no such field in V1HTTPGetAction',
    ],
    ['a string where a boolean goes', 'spec.hostNetwork', 'true', 'pod.spec.hostNetwork: expected a boolean'],
    ['a fraction where an int32 goes', 'spec.priority', 1.5, 'pod.spec.priority: expected an integer'],
    ['a string where an array goes', 'spec.containers.0.command', 'etcd', 'command: expected an array'],
    ['a number in a string map', 'metadata.labels.tier', 1, 'pod.metadata.labels.tier: expected a string'],
    ['a container without image', 'spec.containers.0.image', DELETE, 'image: required in V1Container'],
    ['a container without name', 'spec.containers.0.name', DELETE, 'name: required in V1Container'],
    ['no containers', 'spec.containers', DELETE, 'pod.spec.containers: required in V1PodSpec'],
    [
      'a volume mount without mountPath',
      'spec.containers.0.volumeMounts.0.mountPath',
      DELETE,
      'mountPath: required',
    ],
    ['no pod name', 'metadata.name', DELETE, 'pod.metadata.name: required'],
    ['another kind', 'kind', 'Deployment', 'pod.kind: expected Pod'],
  ] as const)('refuses %s', (_, path, value, problem) => {
    const pod: Record<string, unknown> = validPod();
    const keys = path.split('.');
    const last = keys.pop() as string;
    const parent = keys.reduce(
      (node, key) => (node as Record<string, unknown>)[key],
      pod as unknown,
    ) as Record<string, unknown>;
    if (value === DELETE) delete parent[last];
    else parent[last] = value;
    const problems = podProblems(pod);
    expect(
      problems.some((line) => line.includes(problem)),
      problems.join('\n'),
    ).toBe(true);
  });
});
