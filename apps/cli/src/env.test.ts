import { describe, expect, it } from 'vitest';
import {
  BOOLEAN_VARIABLES,
  defaultCluster,
  defaultStateDir,
  ignoredVariables,
  kubeDownDispatch,
  kubeUpDispatch,
  readBooleanVariable,
  readKubernetesVariables,
  readQuorumReads,
  readStringVariable,
} from './env.js';
import { exitCodeOf, isHacpError } from './errors.js';

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('readBooleanVariable', () => {
  describe.each(BOOLEAN_VARIABLES)('%s', (name) => {
    it('reads true and false', () => {
      expect(readBooleanVariable({ [name]: 'true' }, name)).toBe(true);
      expect(readBooleanVariable({ [name]: 'false' }, name)).toBe(false);
    });

    it('treats empty and unset alike, as unset', () => {
      expect(readBooleanVariable({ [name]: '' }, name)).toBeUndefined();
      expect(readBooleanVariable({}, name)).toBeUndefined();
    });

    it.each(['maybe', 'TRUE', 'False', '1', 'yes', ' true'])(
      'refuses %j with INVALID_ARGUMENT naming the variable and the accepted values (exit 2)',
      (value) => {
        const error = thrown(() => readBooleanVariable({ [name]: value }, name));
        expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
        expect((error as Error).message).toContain(name);
        expect((error as Error).message).toContain('exactly true or false');
        expect((error as Error).message).toContain(JSON.stringify(value));
        expect(exitCodeOf(error)).toBe(2);
      },
    );
  });
});

describe('readQuorumReads', () => {
  it('reads ENABLE_ETCD_QUORUM_READ', () => {
    expect(readQuorumReads({ ENABLE_ETCD_QUORUM_READ: 'true' })).toBe(true);
    expect(readQuorumReads({ ENABLE_ETCD_QUORUM_READ: 'false' })).toBe(false);
  });

  it("accepts the HA guide's misspelling ENABLE_ETCD_QUORUM_READS", () => {
    expect(readQuorumReads({ ENABLE_ETCD_QUORUM_READS: 'true' })).toBe(true);
    expect(readQuorumReads({ ENABLE_ETCD_QUORUM_READS: 'false' })).toBe(false);
  });

  it('accepts both spellings when they agree', () => {
    expect(readQuorumReads({ ENABLE_ETCD_QUORUM_READ: 'true', ENABLE_ETCD_QUORUM_READS: 'true' })).toBe(true);
  });

  it('refuses two spellings that disagree', () => {
    const error = thrown(() =>
      readQuorumReads({ ENABLE_ETCD_QUORUM_READ: 'true', ENABLE_ETCD_QUORUM_READS: 'false' }),
    );
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('disagree');
  });

  it('is undefined when neither is set', () => {
    expect(readQuorumReads({ ENABLE_ETCD_QUORUM_READ: '', ENABLE_ETCD_QUORUM_READS: '' })).toBeUndefined();
  });
});

describe('readKubernetesVariables', () => {
  it('reads HACP_KUBERNETES and HACP_KUBERNETES_VERSION, empty as unset', () => {
    expect(readKubernetesVariables({})).toEqual({});
    expect(readKubernetesVariables({ HACP_KUBERNETES: '', HACP_KUBERNETES_VERSION: '' })).toEqual({});
    expect(readKubernetesVariables({ HACP_KUBERNETES_VERSION: 'latest-1.32' })).toEqual({
      kubernetesVersion: 'latest-1.32',
    });
    expect(readKubernetesVariables({ HACP_KUBERNETES: 'true', HACP_KUBERNETES_VERSION: 'v1.23.16' })).toEqual(
      {
        kubernetes: true,
        kubernetesVersion: 'v1.23.16',
      },
    );
    expect(readKubernetesVariables({ HACP_KUBERNETES: 'false' })).toEqual({ kubernetes: false });
  });

  it('refuses HACP_KUBERNETES=false with a version: they disagree', () => {
    const error = thrown(() =>
      readKubernetesVariables({ HACP_KUBERNETES: 'false', HACP_KUBERNETES_VERSION: '1.23' }),
    );
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toBe(
      'HACP_KUBERNETES=false and HACP_KUBERNETES_VERSION=1.23 disagree: an etcd-only cluster runs no Kubernetes version.',
    );
    expect(exitCodeOf(error)).toBe(2);
  });
});

describe('string variables and defaults', () => {
  it('treats an empty string as unset', () => {
    expect(readStringVariable({ KUBE_GCE_ZONE: '' }, 'KUBE_GCE_ZONE')).toBeUndefined();
    expect(readStringVariable({ KUBE_GCE_ZONE: 'local-a' }, 'KUBE_GCE_ZONE')).toBe('local-a');
  });

  it('takes the cluster from HACP_CLUSTER, else kubernetes', () => {
    expect(defaultCluster({ HACP_CLUSTER: 'prod' })).toBe('prod');
    expect(defaultCluster({ HACP_CLUSTER: '' })).toBe('kubernetes');
    expect(defaultCluster({})).toBe('kubernetes');
  });

  it('takes the state folder from HACP_STATE_DIR, else XDG_STATE_HOME, else ~/.local/state', () => {
    expect(defaultStateDir({ HACP_STATE_DIR: '/srv/hacp', XDG_STATE_HOME: '/x' }, '/home/o')).toBe(
      '/srv/hacp',
    );
    expect(defaultStateDir({ XDG_STATE_HOME: '/x' }, '/home/o')).toBe('/x/hacp');
    expect(defaultStateDir({ HACP_STATE_DIR: '', XDG_STATE_HOME: '' }, '/home/o')).toBe(
      '/home/o/.local/state/hacp',
    );
  });
});

describe('kubeUpDispatch', () => {
  it("runs up with the HA guide's first command (with the READS misspelling)", () => {
    expect(
      kubeUpDispatch({
        MULTIZONE: 'true',
        KUBE_GCE_ZONE: 'europe-west1-b',
        ENABLE_ETCD_QUORUM_READS: 'true',
      }),
    ).toEqual({
      command: 'up',
      zone: 'europe-west1-b',
      multizone: true,
      quorumReads: true,
      kubernetes: true,
    });
  });

  it('defaults multizone and quorum reads to false, as kube-up does, and Kubernetes to on', () => {
    expect(kubeUpDispatch({ KUBE_GCE_ZONE: 'local-a' })).toEqual({
      command: 'up',
      zone: 'local-a',
      multizone: false,
      quorumReads: false,
      kubernetes: true,
    });
  });

  it('takes the Kubernetes version and HACP_KUBERNETES=false for a new cluster', () => {
    expect(
      kubeUpDispatch({ KUBE_GCE_ZONE: 'local-a', HACP_KUBERNETES_VERSION: 'stable-1.23' }),
    ).toMatchObject({
      command: 'up',
      kubernetes: true,
      kubernetesVersion: 'stable-1.23',
    });
    const etcdOnly = kubeUpDispatch({ KUBE_GCE_ZONE: 'local-a', HACP_KUBERNETES: 'false' });
    expect(etcdOnly).toMatchObject({ command: 'up', kubernetes: false });
    expect(etcdOnly).not.toHaveProperty('kubernetesVersion');
  });

  it('replicates in KUBE_GCE_ZONE with KUBE_REPLICATE_EXISTING_MASTER=true', () => {
    expect(kubeUpDispatch({ KUBE_GCE_ZONE: 'local-c', KUBE_REPLICATE_EXISTING_MASTER: 'true' })).toEqual({
      command: 'replicate',
      zone: 'local-c',
    });
  });

  it('replicates without a zone (the SDK picks one) when KUBE_GCE_ZONE is unset', () => {
    expect(kubeUpDispatch({ KUBE_REPLICATE_EXISTING_MASTER: 'true' })).toEqual({ command: 'replicate' });
  });

  it('creates a cluster with KUBE_REPLICATE_EXISTING_MASTER=false or empty', () => {
    expect(
      kubeUpDispatch({ KUBE_GCE_ZONE: 'local-a', KUBE_REPLICATE_EXISTING_MASTER: 'false' }).command,
    ).toBe('up');
    expect(kubeUpDispatch({ KUBE_GCE_ZONE: 'local-a', KUBE_REPLICATE_EXISTING_MASTER: '' }).command).toBe(
      'up',
    );
  });

  it('needs KUBE_GCE_ZONE for a new cluster', () => {
    const error = thrown(() => kubeUpDispatch({ MULTIZONE: 'true' }));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('KUBE_GCE_ZONE');
  });

  it.each([
    ['MULTIZONE', { KUBE_GCE_ZONE: 'local-a', MULTIZONE: 'maybe' }],
    ['ENABLE_ETCD_QUORUM_READ', { KUBE_GCE_ZONE: 'local-a', ENABLE_ETCD_QUORUM_READ: 'on' }],
    ['ENABLE_ETCD_QUORUM_READS', { KUBE_GCE_ZONE: 'local-a', ENABLE_ETCD_QUORUM_READS: 'True' }],
    ['KUBE_REPLICATE_EXISTING_MASTER', { KUBE_GCE_ZONE: 'local-a', KUBE_REPLICATE_EXISTING_MASTER: 'yes' }],
    // A replica inherits MULTIZONE, but a malformed one is still refused rather than silently ignored.
    ['MULTIZONE', { KUBE_REPLICATE_EXISTING_MASTER: 'true', MULTIZONE: 'maybe' }],
    ['HACP_KUBERNETES', { KUBE_GCE_ZONE: 'local-a', HACP_KUBERNETES: 'no' }],
    ['HACP_KUBERNETES', { KUBE_REPLICATE_EXISTING_MASTER: 'true', HACP_KUBERNETES: '0' }],
  ])('refuses a malformed %s', (name, env) => {
    const error = thrown(() => kubeUpDispatch(env));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain(name);
  });

  it('reports MULTIZONE, the quorum reads and the Kubernetes variables as ignored when replicating', () => {
    const env = {
      KUBE_REPLICATE_EXISTING_MASTER: 'true',
      MULTIZONE: 'true',
      ENABLE_ETCD_QUORUM_READS: 'false',
      HACP_KUBERNETES_VERSION: '1.32',
    };
    const ignored = ignoredVariables(env, kubeUpDispatch(env));
    expect(ignored.map((entry) => entry.variable)).toEqual([
      'MULTIZONE',
      'ENABLE_ETCD_QUORUM_READS',
      'HACP_KUBERNETES_VERSION',
    ]);
    expect(ignored[2]?.reason).toBe(
      "HACP_KUBERNETES_VERSION is ignored when adding a replica: the replica inherits the cluster's setting.",
    );
    expect(
      ignoredVariables({ KUBE_GCE_ZONE: 'local-a' }, kubeUpDispatch({ KUBE_GCE_ZONE: 'local-a' })),
    ).toEqual([]);
  });
});

describe('kubeDownDispatch', () => {
  it('removes a replica in KUBE_GCE_ZONE with KUBE_DELETE_NODES=false', () => {
    expect(kubeDownDispatch({ KUBE_DELETE_NODES: 'false', KUBE_GCE_ZONE: 'local-c' })).toEqual({
      command: 'remove',
      zone: 'local-c',
    });
  });

  it('removes the replica KUBE_REPLICA_NAME names', () => {
    expect(
      kubeDownDispatch({
        KUBE_DELETE_NODES: 'false',
        KUBE_GCE_ZONE: 'local-b',
        KUBE_REPLICA_NAME: 'kubernetes-master-1f3',
      }),
    ).toEqual({ command: 'remove', zone: 'local-b', name: 'kubernetes-master-1f3' });
  });

  it('deletes the cluster when KUBE_DELETE_NODES is true, empty or unset (its default is true)', () => {
    expect(kubeDownDispatch({ KUBE_DELETE_NODES: 'true' })).toEqual({ command: 'down' });
    expect(kubeDownDispatch({ KUBE_DELETE_NODES: '' })).toEqual({ command: 'down' });
    expect(kubeDownDispatch({})).toEqual({ command: 'down' });
  });

  it('refuses a malformed KUBE_DELETE_NODES instead of deleting the cluster as kube-down did', () => {
    const error = thrown(() => kubeDownDispatch({ KUBE_DELETE_NODES: 'no', KUBE_GCE_ZONE: 'local-b' }));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('KUBE_DELETE_NODES');
  });

  it('flags a replica name that a whole-cluster delete would ignore', () => {
    const env = { KUBE_REPLICA_NAME: 'kubernetes-master-1f3' };
    const ignored = ignoredVariables(env, kubeDownDispatch(env));
    expect(ignored.map((entry) => entry.variable)).toEqual(['KUBE_REPLICA_NAME']);
    expect(ignored[0]?.reason).toContain('KUBE_DELETE_NODES=false');
  });
});
