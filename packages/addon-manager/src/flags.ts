/** The command line of the add-on manager program (`node dist/main.js ...`). */
import { parseArgs } from 'node:util';
import { invalidArgument } from '@hacp/core';

/** What the program was asked to do. */
export interface AddonManagerFlags {
  kubeconfig: string;
  addonsDir: string;
  intervalSeconds: number;
  help: boolean;
}

/** The usage text the program prints for --help and after a bad command line. */
export const ADDON_MANAGER_USAGE = `Usage: hacp-addon-manager --kubeconfig FILE --addons-dir DIR [--interval-seconds N]

Keeps the add-on manifests in DIR applied to the cluster of FILE, as kube-addon-manager does:
objects labelled addonmanager.kubernetes.io/mode=Reconcile are kept exactly as in DIR (re-created,
reverted, pruned when removed from DIR); EnsureExists ones are created when missing and then left
alone; others are ignored. Logs one JSON line per pass and per problem; stops on SIGTERM or SIGINT.
  --kubeconfig FILE       kubeconfig of the cluster
  --addons-dir DIR        folder of *.yaml, *.yml and *.json manifests (subfolders too)
  --interval-seconds N    seconds from the start of one pass to the next (default 10)
`;

const MAX_INTERVAL_SECONDS = 86_400;

/**
 * Parses the program's arguments (`--flag value` or `--flag=value`).
 *
 * @throws HacpError INVALID_ARGUMENT naming the flag: an unknown flag or a stray argument, a missing
 *   `--kubeconfig` or `--addons-dir`, an interval that is not a number of seconds in (0, 86400].
 * @example
 * parseAddonManagerFlags(['--kubeconfig', 'a.conf', '--addons-dir', 'addons']).intervalSeconds; // 10
 */
export function parseAddonManagerFlags(args: readonly string[]): AddonManagerFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        kubeconfig: { type: 'string' },
        'addons-dir': { type: 'string' },
        'interval-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs's messages are plain ("Unknown option '--x'"); it has no field of its own to name.
    throw invalidArgument({ field: 'arguments', message: (error as Error).message });
  }
  const help = values.help === true;
  const required = (flag: 'kubeconfig' | 'addons-dir'): string => {
    const value = values[flag];
    if (typeof value === 'string' && value !== '') return value;
    if (help) return '';
    throw invalidArgument({ field: flag, message: `--${flag} is required.` });
  };
  const kubeconfig = required('kubeconfig');
  const addonsDir = required('addons-dir');
  const interval = values['interval-seconds'];
  const intervalSeconds = interval === undefined ? 10 : Number(interval);
  if (
    typeof interval === 'string' &&
    (interval.trim() === '' ||
      !Number.isFinite(intervalSeconds) ||
      intervalSeconds <= 0 ||
      intervalSeconds > MAX_INTERVAL_SECONDS)
  ) {
    throw invalidArgument({
      field: 'interval-seconds',
      message: `--interval-seconds must be a number of seconds above 0 and at most ${MAX_INTERVAL_SECONDS}, not "${interval}".`,
      value: interval,
    });
  }
  return { kubeconfig, addonsDir, intervalSeconds, help };
}
