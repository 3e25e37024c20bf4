import { describe, expect, it } from 'vitest';
import { decodeLeaseBody, validateLease } from './lease-codec.js';
import { ApiStatusError } from './status.js';

const refusal = (body: string) => {
  try {
    decodeLeaseBody(body);
  } catch (error) {
    if (error instanceof ApiStatusError) return error.status;
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('decodeLeaseBody', () => {
  it('keeps known fields in Go order and drops unknown ones, reporting their paths', () => {
    const decoded = decodeLeaseBody(
      JSON.stringify({
        spec: { renewTime: '2026-01-01T00:00:00.000000Z', holderIdentity: '', extra: 1 },
        metadata: { labels: { a: 'b' }, name: 'x', managedFields: [] },
        status: {},
      }),
    );
    expect(decoded.lease).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'x', labels: { a: 'b' } },
      spec: { holderIdentity: '', renewTime: '2026-01-01T00:00:00.000000Z' },
    });
    expect(Object.keys(decoded.lease.spec)).toEqual(['holderIdentity', 'renewTime']);
    expect(decoded.unknownFields).toEqual(['spec.extra', 'status']);
  });

  it('treats null as absent', () => {
    expect(decodeLeaseBody('{"metadata":{"name":"x"},"spec":{"renewTime":null}}').lease.spec).toEqual({});
  });

  it('refuses a three-digit MicroTime as a 400 decode error', () => {
    const status = refusal('{"metadata":{"name":"x"},"spec":{"acquireTime":"2026-11-23T19:04:28.205Z"}}');
    expect(status).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect(status.message).toBe(
      'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-11-23T19:04:28.205Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".205Z" as ".000000"',
    );
  });

  it('refuses values of the wrong JSON type with Go’s message', () => {
    expect(refusal('{"spec":{"leaseDurationSeconds":"15"}}').message).toBe(
      'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32',
    );
    expect(refusal('{"spec":{"leaseDurationSeconds":1.5}}').message).toMatch(
      /cannot unmarshal number 1.5 into/,
    );
    expect(refusal('{"spec":"x"}').message).toMatch(/Go struct field Lease.spec of type v1.LeaseSpec/);
    expect(refusal('{"metadata":{"labels":{"a":1}}}').message).toMatch(
      /ObjectMeta.metadata.labels of type string/,
    );
  });

  it('refuses malformed JSON, an empty body, a non-object and a foreign kind with 400', () => {
    for (const body of ['{', '', '[]', '"x"', '{"kind":"Pod"}', '{"apiVersion":"v1"}']) {
      expect(refusal(body)).toMatchObject({ code: 400, reason: 'BadRequest' });
    }
  });
});

describe('validateLease', () => {
  const lease = (metadata: Record<string, unknown>, spec: Record<string, unknown> = {}) =>
    decodeLeaseBody(JSON.stringify({ metadata: { namespace: 'kube-system', ...metadata }, spec })).lease;

  it('accepts a DNS-1123 subdomain name and a positive duration', () => {
    expect(validateLease(lease({ name: 'cp.leader-1' }, { leaseDurationSeconds: 15 }))).toEqual([]);
  });

  it('refuses a name that is not a DNS-1123 subdomain', () => {
    expect(validateLease(lease({ name: 'Bad_Name' }))).toEqual([
      expect.objectContaining({ type: 'FieldValueInvalid', field: 'metadata.name', value: '"Bad_Name"' }),
    ]);
  });

  it('requires a name or generateName', () => {
    expect(validateLease(lease({}))).toEqual([
      { type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' },
    ]);
  });

  it('refuses a zero or negative duration, negative transitions and bad labels', () => {
    const fields = validateLease(
      lease({ name: 'x', labels: { 'bad key': 'v' } }, { leaseDurationSeconds: 0, leaseTransitions: -1 }),
    ).map((e) => e.field);
    expect(fields).toEqual(['metadata.labels', 'spec.leaseDurationSeconds', 'spec.leaseTransitions']);
  });

  it('forbids preferredHolder without strategy', () => {
    expect(validateLease(lease({ name: 'x' }, { preferredHolder: 'a' }))).toEqual([
      expect.objectContaining({ type: 'FieldValueForbidden', field: 'spec.preferredHolder' }),
    ]);
  });
});
