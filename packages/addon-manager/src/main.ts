#!/usr/bin/env node
/**
 * The add-on manager program: what a replica of the local provider runs as `kube-addon-manager`.
 * Exit codes: 0 when stopped by SIGTERM or SIGINT, 2 for a bad command line or kubeconfig.
 */
import { isHacpError, redact } from '@hacp/core';
import { KubeConfig } from '@kubernetes/client-node';
import { ADDON_MANAGER_USAGE, type AddonManagerFlags, parseAddonManagerFlags } from './flags.js';
import { type AddonLogLine, type AddonLogMemory, passLogLines } from './log-lines.js';
import { runAddonManager } from './run.js';

const PROGRAM = 'hacp-addon-manager';

function log(line: AddonLogLine): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
}

function refuse(message: string, options: { usage: boolean }): number {
  process.stderr.write(`${PROGRAM}: ${message}\n${options.usage ? `\n${ADDON_MANAGER_USAGE}` : ''}`);
  return 2;
}

function loadKubeconfig(file: string): KubeConfig | string {
  const kubeconfig = new KubeConfig();
  try {
    kubeconfig.loadFromFile(file);
  } catch (error) {
    // The parser's message may quote the file, whose users hold keys and tokens: say only what kind of failure.
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string'
      ? `cannot read the kubeconfig ${file} (${code}).`
      : `the kubeconfig ${file} is not a valid kubeconfig (YAML with clusters, users and contexts).`;
  }
  if (!kubeconfig.getCurrentCluster()) return `the kubeconfig ${file} has no current cluster.`;
  return kubeconfig;
}

async function run(flags: AddonManagerFlags, kubeconfig: KubeConfig): Promise<number> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    // A second signal while stopping means "now".
    if (controller.signal.aborted) process.exit(0);
    log({ level: 'info', event: 'stopping', signal });
    controller.abort();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log({
    level: 'info',
    event: 'started',
    pid: process.pid,
    addonsDir: flags.addonsDir,
    intervalSeconds: flags.intervalSeconds,
  });
  const memory: AddonLogMemory = { ignored: new Set() };
  await runAddonManager({
    kubeconfig,
    addonsDir: flags.addonsDir,
    intervalMs: flags.intervalSeconds * 1000,
    signal: controller.signal,
    onPass: (report) => {
      for (const line of passLogLines(report, memory)) log(line);
    },
    onError: (error) => log({ level: 'error', event: 'pass-failed', error: redact(error) }),
  });
  log({ level: 'info', event: 'stopped' });
  return 0;
}

async function main(args: readonly string[]): Promise<number> {
  let flags: AddonManagerFlags;
  try {
    flags = parseAddonManagerFlags(args);
  } catch (error) {
    return refuse(isHacpError(error) ? error.message : String(error), { usage: true });
  }
  if (flags.help) {
    process.stdout.write(ADDON_MANAGER_USAGE);
    return 0;
  }
  const kubeconfig = loadKubeconfig(flags.kubeconfig);
  if (typeof kubeconfig === 'string') return refuse(kubeconfig, { usage: false });
  return run(flags, kubeconfig);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${PROGRAM}: ${JSON.stringify(redact(error))}\n`);
    process.exit(1);
  },
);
