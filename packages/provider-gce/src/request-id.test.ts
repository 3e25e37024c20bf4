import { describe, expect, it } from 'vitest';
import { gceRequestId } from './request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('gceRequestId', () => {
  it('is a UUID (version 5 layout, RFC 4122 variant)', () => {
    expect(
      gceRequestId('replicate-1/create', 'insert instance zones/europe-west1-b/instances/k-master'),
    ).toMatch(UUID);
  });

  it('is the same for the same request id and call, in any process', () => {
    const call = 'insert disk zones/europe-west1-b/disks/k-master-pd';
    expect(gceRequestId('up-7/create', call)).toBe(gceRequestId('up-7/create', call));
    // Pinned: a resumed run on another machine, or after an upgrade, must send this very id.
    expect(gceRequestId('up-7/create', call)).toBe('ded4d660-30be-5d9e-9904-6a7c95127a0f');
  });

  it('differs between the calls of one step, and between request ids', () => {
    const ids = new Set([
      gceRequestId('up-7/create', 'insert disk zones/europe-west1-b/disks/k-master-pd'),
      gceRequestId('up-7/create', 'insert instance zones/europe-west1-b/instances/k-master'),
      gceRequestId('up-8/create', 'insert instance zones/europe-west1-b/instances/k-master'),
      // The separator keeps "a" + "b c" apart from "a b" + "c".
      gceRequestId('up-7/create insert', 'instance zones/europe-west1-b/instances/k-master'),
    ]);
    expect(ids.size).toBe(4);
  });
});
