import { describe, expect, it } from 'vitest';
import { kubernetesApiAnswerOf } from './kubernetes-api.js';

describe('kubernetesApiAnswerOf', () => {
  it('reads the HTTP status and the Status body of an ApiException-shaped error', () => {
    const error = Object.assign(new Error('HTTP-Code: 409'), {
      code: 409,
      headers: {},
      body: JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'the object has been modified' }),
    });
    expect(kubernetesApiAnswerOf(error)).toEqual({
      httpStatus: 409,
      status: { kind: 'Status', reason: 'Conflict', message: 'the object has been modified' },
    });
  });

  it('gives an empty status for a body that is not a Status, and nothing for other errors', () => {
    expect(kubernetesApiAnswerOf({ code: 503, headers: {}, body: 'upstream connect error' })).toEqual({
      httpStatus: 503,
      status: {},
    });
    expect(
      kubernetesApiAnswerOf(Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBeUndefined();
    expect(kubernetesApiAnswerOf(undefined)).toBeUndefined();
  });
});
