import { invalidArgument } from '@hacp/core';

const MEMBER_ID = /^[1-9][0-9]{0,19}$/;
const UINT64_MAX = 18446744073709551615n;

/**
 * Checks an etcd member id as the v3 API carries it: a decimal uint64 string, never 0.
 *
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function assertMemberId(id: unknown, field = 'id'): asserts id is string {
  if (typeof id !== 'string' || !MEMBER_ID.test(id) || BigInt(id) > UINT64_MAX) {
    throw invalidArgument({
      field,
      value: typeof id === 'string' ? id : String(id),
      message: `${String(id)} is not an etcd member id: ids are decimal numbers from 1 to 2^64-1, as \`hacp status --json\` and \`etcdctl member list -w json\` print them.`,
      actions: ['Copy the id from the member list.'],
    });
  }
}

/** A member id as etcdctl prints it (hex), for messages people compare with etcdctl output. */
export function hexId(id: string): string {
  return BigInt(id).toString(16);
}

/**
 * Checks a URL etcd will listen on or advertise: `https://<host>:<port>`, nothing else. hacp always
 * runs etcd with TLS, so plain http is refused rather than silently producing a member the others
 * cannot reach.
 *
 * @returns the URL in etcd's canonical form (no trailing slash).
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function normalizeEtcdUrl(url: unknown, field: string): string {
  const refuse = (why: string) =>
    invalidArgument({
      field,
      value: typeof url === 'string' ? url : String(url),
      message: `${field} ${JSON.stringify(url)} is not a valid etcd URL: ${why}.`,
      actions: ['Give it as https://<host or IP>:<port>, for example https://10.0.0.2:2380.'],
    });
  if (typeof url !== 'string' || url.trim() === '') throw refuse('it is empty');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse('it does not parse as a URL');
  }
  if (parsed.protocol !== 'https:')
    throw refuse('hacp runs etcd with TLS only, so it must start with https://');
  if (parsed.username !== '' || parsed.password !== '') throw refuse('it must not carry credentials');
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '') {
    throw refuse('it must not have a path, query or fragment');
  }
  // URL drops a default port (443); etcd needs it spelt out, and so do we.
  const explicitPort = /^https:\/\/(?:\[[^\]]+\]|[^/:]+):(\d+)\/?$/.exec(url.trim());
  if (explicitPort === null) throw refuse('it must name a port');
  const port = Number(explicitPort[1]);
  if (!(port >= 1 && port <= 65535)) throw refuse(`port ${explicitPort[1]} is out of range`);
  return `https://${parsed.hostname}:${port}`;
}

/**
 * Checks an etcd member name: what `--name` and `--initial-cluster` carry. It may not contain the
 * separators of `--initial-cluster` (`,` and `=`) or whitespace.
 *
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function assertMemberName(name: unknown, field = 'name'): asserts name is string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw invalidArgument({
      field,
      value: typeof name === 'string' ? name : String(name),
      message: `${JSON.stringify(name)} is not a valid etcd member name: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
      actions: ['Use the replica name, for example kubernetes-master-a1b.'],
    });
  }
}
