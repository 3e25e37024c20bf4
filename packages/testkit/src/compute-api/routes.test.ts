import { describe, expect, it } from 'vitest';
import { COMPUTE_METHODS, matchRoute } from './routes.js';

describe('matchRoute', () => {
  it('maps paths to discovery ids with their parameters', () => {
    const base = '/compute/v1/projects/p';
    expect(matchRoute('GET', `${base}`)?.definition.id).toBe('compute.projects.get');
    expect(matchRoute('POST', `${base}/zones/z-a/operations/operation-1/wait`)).toMatchObject({
      project: 'p',
      params: { zone: 'z-a', operation: 'operation-1' },
      definition: { id: 'compute.zoneOperations.wait' },
    });
    expect(matchRoute('POST', `${base}/zones/z-a/instances/cp-1/stop`)?.definition.id).toBe(
      'compute.instances.stop',
    );
    expect(matchRoute('DELETE', `${base}/zones/z-a/instances/cp-1`)?.definition.id).toBe(
      'compute.instances.delete',
    );
    expect(matchRoute('PATCH', `${base}/global/firewalls/fw`)?.params).toEqual({ resource: 'fw' });
    expect(matchRoute('GET', `${base}/aggregated/instances`)?.definition.id).toBe(
      'compute.instances.aggregatedList',
    );
  });

  it('finds nothing for other paths and methods', () => {
    expect(matchRoute('GET', '/compute/v1/projects/')).toBeUndefined();
    expect(matchRoute('PUT', '/compute/v1/projects/p/zones/z/instances/x')).toBeUndefined();
    expect(matchRoute('PATCH', '/compute/v1/projects/p/zones/z/instances/x')).toBeUndefined();
    expect(matchRoute('GET', '/compute/v1/projects/p/zones/z/widgets')).toBeUndefined();
    expect(matchRoute('GET', '/other/v1/projects/p')).toBeUndefined();
  });

  it('has one method per id and per (http method, pattern)', () => {
    const ids = COMPUTE_METHODS.map((method) => method.id);
    expect(new Set(ids).size).toBe(ids.length);
    const routes = COMPUTE_METHODS.map((method) => `${method.httpMethod} ${method.pattern}`);
    expect(new Set(routes).size).toBe(routes.length);
  });
});
