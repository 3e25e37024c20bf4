#!/usr/bin/env node
/**
 * Runs the lease API server alone, for poking at it by hand:
 * `pnpm --filter @hacp/testkit lease-server [--port N] [--kubeconfig PATH] [--namespace NS ...]`.
 * Prints the URL, the tokens and where the kubeconfig went; stops on SIGINT or SIGTERM.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLeaseApiServer } from './lease-api-server.js';

const USAGE = `Usage: lease-server [--port N] [--kubeconfig PATH] [--namespace NS ...]

Starts a Kubernetes API double for coordination.k8s.io/v1 Leases on https://127.0.0.1.
  --port N          port to listen on (default: one the OS picks)
  --kubeconfig PATH where to write the kubeconfig (default: a file in the temp folder)
  --namespace NS    an extra namespace that exists from the start (repeatable)
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  const server = await startLeaseApiServer({ port, namespaces: values.namespace ?? [] });
  const kubeconfigPath =
    values.kubeconfig ?? join(tmpdir(), `hacp-lease-api-${new URL(server.url).port}.kubeconfig`);
  await writeFile(kubeconfigPath, server.kubeconfig(), { mode: 0o600 });
  process.stdout.write(
    [
      `lease API server listening on ${server.url}`,
      `kubeconfig:      ${kubeconfigPath}`,
      `token:           ${server.token}`,
      `forbidden token: ${server.forbiddenToken}`,
      `try: kubectl --kubeconfig ${kubeconfigPath} get leases -n kube-system`,
      'stop with Ctrl-C',
      '',
    ].join('\n'),
  );
  const stop = (signal: NodeJS.Signals) => {
    process.stdout.write(`${signal}: stopping\n`);
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`lease-server: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
});
