/**
 * A guest for the VM runtime's and the server's tests: a startup script in the real one's shape (small;
 * every location through the HACP_* overrides), and a "kubelet" that is a small HTTP server.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from '@hacp/core';
import { type ComputeApiServer, startComputeApiServer } from '../compute-api-server.js';

/** Polls `check` until it returns a value (within a minute), and returns it. */
export function until<T>(
  description: string,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  return waitUntil<T>({
    description,
    timeoutMs: 60_000,
    minDelayMs: 50,
    maxDelayMs: 500,
    check: async () => {
      const value = await check();
      return value === undefined ? { done: false } : { done: true, value: value as T };
    },
  });
}

/** The test kubelet written into `dir`, as a runtime's kubeletCommand. */
export async function testKubeletCommand(dir: string): Promise<string[]> {
  const kubelet = join(dir, 'test-kubelet.cjs');
  await writeFile(kubelet, TEST_KUBELET);
  return [process.execPath, kubelet];
}

/** A Compute API server whose VMs boot quickly (100 ms) with the test kubelet, its files under `dir`. */
export async function startTestGuestServer(dir: string, folder = 'runtime'): Promise<ComputeApiServer> {
  return startComputeApiServer({
    runtime: { dir: join(dir, folder), bootDelayMs: 100, kubeletCommand: await testKubeletCommand(dir) },
  });
}

/**
 * The test's kubelet: serves on the address and port its config names (`bind: <ip>`, `port: <n>`),
 * `/healthz` 200, `/env` what the runtime gave it and when it started, and its instance name.
 */
export const TEST_KUBELET = `
const started = Date.now() + Math.random();
const config = process.argv.find((a) => a.startsWith('--config='))?.slice(9);
const text = require('node:fs').readFileSync(config, 'utf8');
const value = (key) => new RegExp(key + ': (\\\\S+)').exec(text)[1];
require('node:http').createServer((request, response) => {
  response.end(request.url === '/env'
    ? JSON.stringify({ root: process.env.HACP_VM_ROOT, started, name: value('name') })
    : 'ok');
}).listen(Number(value('port')), value('bind'));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * Reads `test-port` and `test-bind` from the instance's metadata; needs a `master-pd` data disk. With
 * `test-wait-url`, it waits (at most 30 s) after starting the kubelet until that URL answers, as the
 * real script waits for the health endpoint.
 */
export const TEST_STARTUP_SCRIPT = `#!/bin/bash
set -euo pipefail
md() { curl -fsS -H 'Metadata-Flavor: Google' "$HACP_METADATA_URL/$1"; }
echo "test-boot: cluster $(md hacp-cluster)"
echo "test-boot: instance $(curl -fsS -H 'Metadata-Flavor: Google' "\${HACP_METADATA_URL%/attributes}/id" || echo none)"
if ! curl -fsS -o /dev/null "$HACP_METADATA_URL/hacp-cluster"; then echo "test-boot: no flavor, refused"; fi
if ! "$HACP_BLKID" -p -s TYPE -o value "$HACP_DEVICE"; then echo "test-boot: formatting"; "$HACP_MKFS" -F "$HACP_DEVICE"; fi
mkdir -p "$HACP_ROOT"
"$HACP_MOUNTPOINT" -q "$HACP_ROOT" || "$HACP_MOUNT" -o discard,defaults "$HACP_DEVICE" "$HACP_ROOT"
date +%s%N >>"$HACP_ROOT/boots"
mkdir -p "$HACP_BIN_DIR" "$HACP_SYSTEMD_DIR" "$HACP_KUBELET_CONFIG_DIR"
url="$HACP_RELEASE_URL/v1.32.2/bin/linux/amd64/kubelet"
curl -fsS -o "$HACP_BIN_DIR/kubelet" "$url"
[[ "$(sha256sum <"$HACP_BIN_DIR/kubelet" | cut -d' ' -f1)" == "$(curl -fsS "$url.sha256")" ]]
chmod 0755 "$HACP_BIN_DIR/kubelet"
name="$(curl -fsS -H 'Metadata-Flavor: Google' "\${HACP_METADATA_URL%/attributes}/name")"
printf 'port: %s\\nbind: %s\\nname: %s\\n' "$(md test-port)" "$(md test-bind)" "$name" >"$HACP_KUBELET_CONFIG_DIR/config"
printf '[Service]\\nExecStart=%s --config=%s\\nRestart=always\\nRestartSec=1\\n' "$HACP_BIN_DIR/kubelet" "$HACP_KUBELET_CONFIG_DIR/config" >"$HACP_SYSTEMD_DIR/kubelet.service"
"$HACP_SYSTEMCTL" daemon-reload
"$HACP_SYSTEMCTL" enable --now kubelet.service
if wait_url="$(md test-wait-url 2>/dev/null)"; then
  for _ in $(seq 150); do
    if curl -fsS -o /dev/null --max-time 1 "$wait_url"; then echo "test-boot: $wait_url answered while the script ran"; break; fi
    sleep 0.2
  done
fi
echo "test-boot: done"
`;
