// A CLI in miniature for frozen-member.integ.test.ts. It ends WITHOUT process.exit, so the process
// exits only once the client left nothing open. Imports the built package (turbo builds it before
// the tests). Modes:
// - read: reads the members, their health and status through every endpoint, then closes;
// - abandon: starts a member list it never waits for, closes the client while the call is pending,
//   and prints what still keeps node running once the call has failed.
import { readFileSync } from 'node:fs';
import { createMembershipClient } from '../dist/index.js';

const [mode, deadline, caFile, certFile, keyFile, ...endpoints] = process.argv.slice(2);
const deadlineMs = Number(deadline);
const started = Date.now();
const etcd = createMembershipClient({
  endpoints,
  tls: {
    caPem: readFileSync(caFile, 'utf8'),
    certPem: readFileSync(certFile, 'utf8'),
    keyPem: readFileSync(keyFile, 'utf8'),
  },
  callTimeoutMs: deadlineMs,
});
const report = (result) =>
  process.stdout.write(`${JSON.stringify({ ...result, tookMs: Date.now() - started })}\n`);

if (mode === 'read') {
  try {
    const members = await etcd.members();
    const health = await etcd.health({ timeoutMs: deadlineMs });
    const status = await etcd.status({ endpoints });
    report({
      members: members.length,
      healthy: health.filter((entry) => entry.healthy).length,
      answered: status.filter((entry) => entry.ok).map((entry) => entry.endpoint),
    });
  } finally {
    etcd.close();
  }
} else {
  const pending = etcd.members().then(
    () => 'answered',
    (error) => error.code,
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  etcd.close();
  const outcome = await pending;
  await new Promise((resolve) => setImmediate(resolve));
  report({ outcome, keepingNodeRunning: process.getActiveResourcesInfo() });
}
