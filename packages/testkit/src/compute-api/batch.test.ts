import { describe, expect, it } from 'vitest';
import { formatBatch, parseBatch } from './batch.js';

// What gcloud 528 (apitools' BatchHttpRequest, Python's email generator) sent for
// `gcloud compute instances list --zones europe-west1-b,europe-west1-c`, with a POST part added.
const GCLOUD_BODY = [
  '--===============5274949446187525387==',
  'Content-Type: application/http',
  'MIME-Version: 1.0',
  'Content-Transfer-Encoding: binary',
  'Content-ID: <0709f77a-a8de-412d-9a6e-c689f8394184+0>',
  '',
  'GET /compute/v1/projects/hacp-test/zones/europe-west1-b/instances?alt=json&maxResults=500 HTTP/1.1',
  'Content-Type: application/json',
  'MIME-Version: 1.0',
  'content-length: 0',
  'user-agent: google-cloud-sdk',
  'Host: 127.0.0.1:18555',
  '',
  '',
  '--===============5274949446187525387==',
  'Content-Type: application/http',
  'MIME-Version: 1.0',
  'Content-Transfer-Encoding: binary',
  'Content-ID: <0709f77a-a8de-412d-9a6e-c689f8394184+1>',
  '',
  'POST /compute/v1/projects/hacp-test/regions/europe-west1/targetPools/p/getHealth?alt=json HTTP/1.1',
  'Content-Type: application/json',
  'MIME-Version: 1.0',
  'Host: 127.0.0.1:18555',
  '',
  '{"instance": "zones/europe-west1-b/instances/vm1"}',
  '--===============5274949446187525387==--',
  '',
].join('\n');
const GCLOUD_TYPE = 'multipart/mixed; boundary="===============5274949446187525387=="';

describe('the batch format', () => {
  it("reads gcloud's batch body: each part's Content-ID, request line and body", () => {
    expect(parseBatch(GCLOUD_TYPE, GCLOUD_BODY)).toEqual([
      {
        contentId: '0709f77a-a8de-412d-9a6e-c689f8394184+0',
        httpMethod: 'GET',
        target: '/compute/v1/projects/hacp-test/zones/europe-west1-b/instances?alt=json&maxResults=500',
        body: '',
      },
      {
        contentId: '0709f77a-a8de-412d-9a6e-c689f8394184+1',
        httpMethod: 'POST',
        target: '/compute/v1/projects/hacp-test/regions/europe-west1/targetPools/p/getHealth?alt=json',
        body: '{"instance": "zones/europe-west1-b/instances/vm1"}',
      },
    ]);
  });

  it('reads CRLF bodies and an unquoted boundary the same way', () => {
    const crlf = GCLOUD_BODY.replaceAll('\n', '\r\n').replaceAll(
      '===============5274949446187525387==',
      'b0',
    );
    expect(parseBatch('multipart/mixed; boundary=b0', crlf)).toEqual(parseBatch(GCLOUD_TYPE, GCLOUD_BODY));
  });

  it('refuses a body that is not multipart/mixed or holds no HTTP request, with a 400', () => {
    expect(() => parseBatch('application/json', '{}')).toThrow(/multipart\/mixed/);
    expect(() => parseBatch('multipart/mixed; boundary=b', '--b\n\nnot a request\n--b--')).toThrow(
      /part 1 holds no HTTP request/,
    );
    const empty = (() => {
      try {
        parseBatch('multipart/mixed; boundary=b', '--b--');
      } catch (error) {
        return error;
      }
    })();
    expect(empty).toMatchObject({ status: 400, reason: 'badRequest' });
  });

  it('answers each part as an HTTP response in order, with Content-ID <response-...>', () => {
    const { contentType, body } = formatBatch([
      { contentId: 'a+0', status: 200, body: { kind: 'compute#instanceList' } },
      { contentId: 'a+1', status: 404, body: { error: { code: 404 } } },
    ]);
    const boundary = /^multipart\/mixed; boundary=(batch_[A-Za-z0-9_-]+)$/.exec(contentType)?.[1];
    expect(boundary).toBeDefined();
    expect(body).toBe(
      [
        `--${boundary}`,
        'Content-Type: application/http',
        'Content-ID: <response-a+0>',
        '',
        'HTTP/1.1 200 OK',
        'Content-Type: application/json; charset=UTF-8',
        'Content-Length: 31',
        '',
        '{"kind":"compute#instanceList"}',
        `--${boundary}`,
        'Content-Type: application/http',
        'Content-ID: <response-a+1>',
        '',
        'HTTP/1.1 404 Not Found',
        'Content-Type: application/json; charset=UTF-8',
        'Content-Length: 22',
        '',
        '{"error":{"code":404}}',
        `--${boundary}--`,
        '',
      ].join('\r\n'),
    );
  });
});
