#!/usr/bin/env node
/**
 * The kubelet stand-in, run as a kubelet is: `kubelet --config=<KubeletConfiguration> [--v=N]`
 * (other kubelet flags are accepted and ignored). It reads HACP_VM_ROOT (required), HACP_VM_IMAGES,
 * HACP_VM_IP, HACP_KUBELET_SYNC_MS and HACP_KUBELET_BACKOFF_MS; see the testkit's README.
 * Exit codes: 0 when stopped by SIGTERM or SIGINT, 1 for a bad command line, environment or config.
 */
import { parseArgs } from 'node:util';
import { isHacpError, type LogFields, type Logger } from '@hacp/core';
import { kubeletEnvironment } from './kubelet/config.js';
import { runKubelet } from './kubelet/kubelet.js';

const PROGRAM = 'kubelet (hacp stand-in)';

/** The two flags the stand-in reads; every other kubelet flag is tolerated (strict: false) and ignored. */
function readFlags(args: readonly string[]): { config?: string; verbosity: number } {
  const { values } = parseArgs({
    args: [...args],
    options: { config: { type: 'string' }, v: { type: 'string', short: 'v' } },
    strict: false,
    allowPositionals: true,
  });
  const config = typeof values.config === 'string' ? values.config : undefined;
  // `-v=2` reaches parseArgs as the short flag with the value "=2".
  const verbosity = Number(typeof values.v === 'string' ? values.v.replace(/^=/, '') : '0');
  return {
    ...(config === undefined ? {} : { config }),
    verbosity: Number.isFinite(verbosity) ? verbosity : 0,
  };
}

function lineLogger(verbosity: number): Logger {
  const write = (level: string) => (message: string, fields?: LogFields) => {
    const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
    process.stdout.write(`${new Date().toISOString()} ${level} ${message}${extra}\n`);
  };
  return {
    debug: verbosity >= 4 ? write('D') : () => {},
    info: write('I'),
    warn: write('W'),
    error: write('E'),
  };
}

function refuse(message: string): number {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  return 1;
}

async function main(args: readonly string[]): Promise<number> {
  const { config: configFile, verbosity } = readFlags(args);
  if (configFile === undefined || configFile === '') {
    return refuse('--config=<KubeletConfiguration file> is required: the stand-in runs static pods only.');
  }
  let env: ReturnType<typeof kubeletEnvironment>;
  try {
    env = kubeletEnvironment(process.env);
  } catch (error) {
    return refuse(isHacpError(error) ? error.message : String(error));
  }
  if (env.vmRoot === undefined) {
    return refuse("HACP_VM_ROOT is not set: it names the host folder that is the VM's /.");
  }
  let kubelet: Awaited<ReturnType<typeof runKubelet>>;
  try {
    kubelet = await runKubelet({
      ...env,
      vmRoot: env.vmRoot,
      configFile,
      logger: lineLogger(verbosity),
    });
  } catch (error) {
    return refuse(isHacpError(error) ? error.message : String(error));
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // A second signal while stopping means "now": the exit hook kills every container.
      if (stopping) process.exit(1);
      stopping = true;
      process.stdout.write(`${new Date().toISOString()} I received ${signal}: stopping every pod\n`);
      void kubelet.stop().then(() => resolve(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  // After the last line reached stdout, which may be a pipe.
  (code) => process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    process.stderr.write(`${PROGRAM}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
