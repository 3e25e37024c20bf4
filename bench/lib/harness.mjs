// What every benchmark script here does around its measurements: its command line, stopping what it
// started when it is interrupted, and its temp folders.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const COMMON_OPTIONS = `
Options every benchmark takes:
  --quick         a smoke run: fewer rounds and sizes, prints the tables, records nothing
  --from-results  measures nothing: prints the tables of the recorded results.json and rewrites the
                  README sections from them (after a change to how the tables are worded)
  --help          this text
`;

/** A script's usage: its opening comment, then the options every benchmark takes. */
function usageOf(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n');
  const end = lines.findIndex((line) => !line.startsWith('//'));
  const about = lines
    .slice(0, end)
    .map((line) => line.replace(/^\/\/ ?/, ''))
    .join('\n');
  return `${about}\n${COMMON_OPTIONS}`;
}

/**
 * The script's options: `--quick`, `--from-results`, `--help` (prints the usage and exits) and the
 * script's own `options` (node:util parseArgs's form). An unknown option or a stray word prints the
 * usage and exits 2, so a mistyped `--quick` never starts a full run that records.
 *
 * @example const options = benchOptions(import.meta.url, { out: { type: 'string' } });
 */
export function benchOptions(scriptUrl, options = {}) {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        'from-results': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        ...options,
      },
    }));
    if (values.quick && values['from-results'])
      throw new Error('--quick and --from-results exclude each other');
  } catch (error) {
    process.stderr.write(`${error.message}\n\n${usageOf(scriptUrl)}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usageOf(scriptUrl));
    process.exit(0);
  }
  return values;
}

/**
 * On SIGINT or SIGTERM: says what it stops (`the etcd clusters this run started`), runs `stop` (which
 * stops the run's processes by their pids), and exits 130 whether or not that worked.
 */
export function onInterrupt(what, stop) {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping ${what}\n`);
      Promise.resolve()
        .then(stop)
        .finally(() => process.exit(130));
    });
  }
}

/** A new folder under the OS temp folder, `hacp-bench-<kind>-XXXXXX`. */
export const tempFolder = (kind) => mkdtempSync(join(tmpdir(), `hacp-bench-${kind}-`));

/** Removes a folder and everything in it; nothing when it is gone already. */
export const removeFolder = (path) => rmSync(path, { recursive: true, force: true });
