/** The add-on manager's loop: read the folder, reconcile, wait out the interval, until stopped. */
import { ErrorCode, HacpError, invalidArgument, isHacpError } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { readAddonFolder } from './folder.js';
import { addonModeOf } from './manifests.js';
import { type AddonKind, type ReconcileResult, reconcileAddons } from './reconcile.js';

/** What one pass of {@link runAddonManager} found and did. */
export interface AddonPassReport extends ReconcileResult {
  /** Files of the folder that could not be read or parsed (their objects were not applied). */
  problems: { file: string; message: string }[];
  /**
   * Why nothing was pruned in this pass, when nothing was: the folder is missing, or a file of it
   * could not be read, so what the folder wants is not known and deleting could remove a wanted add-on.
   */
  pruneSkipped?: string;
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * `work`, or undefined as soon as `signal` aborts. The work itself stops at its next request
 * (every request carries the signal); its late outcome is dropped.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  work.catch(() => {});
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(undefined);
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function pass(options: {
  kubeconfig: KubeConfig;
  addonsDir: string;
  signal: AbortSignal;
  /** The kinds of every add-on the folder has held while this loop ran; the pass adds its own. */
  seenKinds: Map<string, AddonKind>;
}): Promise<AddonPassReport> {
  const folder = await readAddonFolder(options.addonsDir);
  const objects = folder.files.flatMap((file) => file.objects);
  for (const object of objects) {
    const { apiVersion, kind } = object;
    if (addonModeOf(object) !== undefined)
      options.seenKinds.set(`${apiVersion}|${kind}`, { apiVersion, kind });
  }
  const pruneSkipped = !folder.exists
    ? `the add-on folder ${options.addonsDir} does not exist`
    : folder.problems.length > 0
      ? `${folder.problems.length} file(s) of the add-on folder could not be read`
      : undefined;
  const result = await reconcileAddons({
    kubeconfig: options.kubeconfig,
    objects,
    signal: options.signal,
    prune: pruneSkipped === undefined,
    pruneKinds: [...options.seenKinds.values()],
  });
  return { ...result, problems: folder.problems, ...(pruneSkipped === undefined ? {} : { pruneSkipped }) };
}

/** How soon a pass is tried again while none has gone through yet (the API server starting). */
export const FIRST_PASS_RETRY_MS = 1000;
/** How many such quick retries at most: an add-on that never applies gets the interval after. */
export const FIRST_PASS_QUICK_RETRIES = 60;

/**
 * Keeps the add-ons of `addonsDir` on the cluster: a pass (see `reconcileAddons`) every
 * `intervalMs`, measured from the start of one pass to the start of the next (a pass that takes
 * longer is followed at once), until `signal` aborts. Until a pass goes through (every object
 * applied), one that did not is tried again after FIRST_PASS_RETRY_MS (or the interval, when that is
 * shorter), at most FIRST_PASS_QUICK_RETRIES times: beside an API server that is starting, the
 * add-ons are on as soon as it serves. The folder is re-read at every pass; a missing
 * folder is an empty set, and while it is missing or a file of it cannot be parsed nothing is pruned.
 * Besides the allowlist and the folder's kinds, pruning looks in every kind the folder has held
 * since the loop started, so removing the last Widget (or its CRD) from the folder prunes it.
 * Returns promptly when `signal` aborts, also in the middle of a pass. A pass that fails as a whole
 * (never a single object) goes to `onError` and the loop goes on.
 *
 * @throws HacpError INVALID_ARGUMENT for an interval that is not a positive number, or a kubeconfig
 *   without a current cluster.
 * @example
 * const controller = new AbortController();
 * process.once('SIGTERM', () => controller.abort());
 * await runAddonManager({
 *   kubeconfig, addonsDir: '/etc/kubernetes/addons', intervalMs: 10_000, signal: controller.signal,
 *   onPass: (report) => console.log(report.created, report.applied, report.pruned),
 * });
 */
export async function runAddonManager(options: {
  kubeconfig: KubeConfig;
  addonsDir: string;
  intervalMs: number;
  signal: AbortSignal;
  onPass?: (report: AddonPassReport) => void;
  onError?: (error: unknown) => void;
}): Promise<void> {
  const { kubeconfig, addonsDir, intervalMs, signal } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw invalidArgument({
      field: 'intervalMs',
      message: `The interval between passes must be a positive number of milliseconds, not ${intervalMs}.`,
      value: intervalMs,
    });
  }
  if (!kubeconfig.getCurrentCluster()) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'The kubeconfig has no current cluster, so there is no API server to keep the add-ons on.',
      actions: ['Pass a kubeconfig whose current-context names a cluster with a server address.'],
      details: { field: 'kubeconfig' },
    });
  }
  const seenKinds = new Map<string, AddonKind>();
  let passed = false;
  let quickRetries = 0;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const report = await untilAborted(pass({ kubeconfig, addonsDir, signal, seenKinds }), signal);
      if (report !== undefined) {
        passed ||= report.failed.length === 0;
        options.onPass?.(report);
      }
    } catch (error) {
      if (signal.aborted || isHacpError(error, ErrorCode.ABORTED)) break;
      options.onError?.(error);
    }
    // Until a pass has gone through, the API server is most likely still starting beside it.
    const quick = !passed && quickRetries++ < FIRST_PASS_QUICK_RETRIES;
    const wait = quick ? Math.min(intervalMs, FIRST_PASS_RETRY_MS) : intervalMs;
    await pause(Math.max(0, wait - (Date.now() - started)), signal);
  }
}
