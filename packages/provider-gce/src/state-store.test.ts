import { ErrorCode, isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { parseStateDocument, STATE_FORMAT } from './state-store.js';

function refusal(value: string): unknown {
  try {
    parseStateDocument('hacp-prod', value);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('parseStateDocument', () => {
  it('reads a document of this format, and a missing item as empty', () => {
    const document = {
      format: STATE_FORMAT,
      entries: { 'hacp/clusters/prod/record': { version: 3, value: { a: 1 } } },
      locks: {},
    };
    expect(parseStateDocument('hacp-prod', JSON.stringify(document))).toEqual(document);
    expect(parseStateDocument('hacp-prod', undefined)).toEqual({
      format: STATE_FORMAT,
      entries: {},
      locks: {},
    });
  });

  it.each([
    ['text that is not JSON', 'not json'],
    ['JSON without a format', '{"entries":{}}'],
    ['a newer format', JSON.stringify({ format: STATE_FORMAT + 1, entries: {}, locks: {} })],
    ['a document without entries', JSON.stringify({ format: STATE_FORMAT })],
  ])('refuses %s as STATE_CORRUPT, naming the item', (_what, value) => {
    const error = refusal(value);
    expect(isHacpError(error, ErrorCode.STATE_CORRUPT)).toBe(true);
    expect((error as { details: { item: string } }).details.item).toBe('hacp-prod');
  });
});
