import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { gceSettings } from './providers.js';

const context = (env: Record<string, string>, project?: string) => ({
  stateDir: '/nonexistent',
  env,
  ...(project === undefined ? {} : { project }),
});

function refusal(call: () => unknown) {
  try {
    call();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

describe('gceSettings', () => {
  it('takes --project first, then HACP_GCE_PROJECT, then gcloud’s CLOUDSDK_CORE_PROJECT', () => {
    expect(gceSettings(context({ HACP_GCE_PROJECT: 'from-env-1' }, 'from-flag-1')).project).toBe(
      'from-flag-1',
    );
    expect(
      gceSettings(context({ HACP_GCE_PROJECT: 'from-env-1', CLOUDSDK_CORE_PROJECT: 'gcloud-1' })).project,
    ).toBe('from-env-1');
    expect(gceSettings(context({ CLOUDSDK_CORE_PROJECT: 'gcloud-1' })).project).toBe('gcloud-1');
  });

  it('defaults to IAP tunnels and kube-apiserver, and passes region, network and endpoint through', () => {
    expect(gceSettings(context({}, 'proj-1'))).toEqual({
      project: 'proj-1',
      reach: 'iap',
      kubeApiserver: true,
    });
    expect(
      gceSettings(
        context(
          {
            HACP_GCE_REGION: 'europe-west1',
            HACP_GCE_NETWORK: 'cp-net',
            HACP_GCE_REACH: 'direct',
            HACP_GCE_API_ENDPOINT: 'http://127.0.0.1:8089',
            HACP_GCE_KUBE_APISERVER: 'false',
          },
          'proj-1',
        ),
      ),
    ).toEqual({
      project: 'proj-1',
      reach: 'direct',
      kubeApiserver: false,
      region: 'europe-west1',
      network: 'cp-net',
      apiEndpoint: 'http://127.0.0.1:8089',
    });
  });

  it.each([
    [{}, undefined, 'project'],
    [{}, 'Not_A_Project', 'project'],
    [{ HACP_GCE_REACH: 'vpn' }, 'proj-1', 'HACP_GCE_REACH'],
    [{ HACP_GCE_KUBE_APISERVER: 'yes' }, 'proj-1', 'HACP_GCE_KUBE_APISERVER'],
    [{ HACP_GCE_API_ENDPOINT: 'not a url' }, 'proj-1', 'HACP_GCE_API_ENDPOINT'],
  ])('refuses %j with project %s as INVALID_ARGUMENT naming %s', (env, project, field) => {
    const error = refusal(() => gceSettings(context(env as Record<string, string>, project)));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe(field);
    expect(error.actions.length).toBeGreaterThan(0);
  });
});
