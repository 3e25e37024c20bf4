import { describe, expect, it } from 'vitest';
import { httpCheckOf } from './load-balancers.js';

describe('httpCheckOf', () => {
  it("points an http check at the health endpoint, which answers at the rule's address, with its timing", () => {
    expect(
      httpCheckOf('k-master', {
        protocol: 'http',
        port: 2381,
        path: '/health',
        intervalSeconds: 2,
        timeoutSeconds: 1,
        healthyThreshold: 3,
        unhealthyThreshold: 4,
      }),
    ).toMatchObject({
      name: 'k-master-hc',
      port: 8081,
      requestPath: '/healthz',
      checkIntervalSec: 2,
      timeoutSec: 1,
      healthyThreshold: 3,
      unhealthyThreshold: 4,
    });
  });

  it.each(['https', 'tcp'] as const)(
    'points a %s check, which legacy checks cannot do, at the health endpoint',
    (protocol) => {
      const check = httpCheckOf('k-master', { protocol, port: 443 });
      expect(check).toMatchObject({ port: 8081, requestPath: '/healthz' });
      // The spec is kept, so that get returns it as given.
      expect(JSON.parse(check.description ?? '')).toEqual({ 'hacp-health-check': { protocol, port: 443 } });
    },
  );

  it('never lets the default timeout pass the interval (GCE refuses that)', () => {
    expect(httpCheckOf('k-master', { protocol: 'http', port: 2381, intervalSeconds: 1 })).toMatchObject({
      checkIntervalSec: 1,
      timeoutSec: 1,
    });
    expect(httpCheckOf('k-master', { protocol: 'http', port: 2381 })).toMatchObject({
      checkIntervalSec: 5,
      timeoutSec: 5,
    });
  });
});
