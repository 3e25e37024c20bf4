#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startComputeApiServer } from './compute-api-server.js';

const USAGE = `Usage: compute-server [--port N] [--latency-ms N] [--operation-delay-ms N] [--project P ...]
                      [--zone Z ...] [--boot-dir DIR]

Starts a double of the Compute Engine v1 REST API on http://127.0.0.1 for @google-cloud/compute.
  --port N                port to listen on (default: one the OS picks)
  --latency-ms N          latency added to every request (default 0)
  --operation-delay-ms N  how long each operation runs before it is DONE (default 20)
  --project P             a project that exists (repeatable; default hacp-test)
  --zone Z                a zone offered (repeatable; default europe-west1-b/c/d, us-central1-a/b/c/f)
  --boot-dir DIR          boot inserted instances on this machine, their files under DIR
`;

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new Error(`${flag} must be a whole number >= 0, got "${value}"`);
  return number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'latency-ms': { type: 'string' },
      'operation-delay-ms': { type: 'string' },
      project: { type: 'string', multiple: true },
      zone: { type: 'string', multiple: true },
      'boot-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const server = await startComputeApiServer({
    port: count('--port', values.port) ?? 0,
    latencyMs: count('--latency-ms', values['latency-ms']),
    operationDelayMs: count('--operation-delay-ms', values['operation-delay-ms']),
    ...(values.project === undefined ? {} : { projects: values.project }),
    ...(values.zone === undefined ? {} : { zones: values.zone }),
    ...(values['boot-dir'] === undefined ? {} : { runtime: { dir: values['boot-dir'] } }),
  });
  const project = server.projects[0] ?? 'hacp-test';
  process.stdout.write(
    [
      `compute API server listening on ${server.url}`,
      `projects:        ${server.projects.join(', ')}`,
      `zones:           ${server.zones.join(', ')}`,
      `client options:  ${JSON.stringify(server.clientOptions)} (+ authClient: new PassThroughClient())`,
      `gcloud:          export CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=${server.url}/compute/v1/`,
      `try:             curl ${server.url}/compute/v1/projects/${project}/zones`,
      'stop with Ctrl-C',
      '',
    ].join('\n'),
  );
  const stop = (signal: NodeJS.Signals) => {
    process.stdout.write(`${signal}: stopping\n`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`compute-server: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
});
