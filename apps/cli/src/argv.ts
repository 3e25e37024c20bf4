/**
 * The command line as people type it, made into one oclif parses: global flags before the command
 * (`hacp --cluster x status`) move after it, `hacp help <command>` is `hacp <command> --help`, and
 * `-h` is `--help`.
 * Kept apart from the rest of the CLI so that `bin/run.js` loads nothing else before oclif.
 */

/** The global flags that take a value. */
const VALUE_FLAGS = new Set(['--cluster', '--provider', '--project', '--state-dir']);
/** The global flags that take none. */
const BOOLEAN_FLAGS = new Set(['--json']);

/**
 * @example
 * commandLine(['--cluster', 'x', 'status']); // ['status', '--cluster', 'x']
 * commandLine(['help', 'zone', 'fail']); // ['zone', 'fail', '--help']
 */
export function commandLine(typed: readonly string[]): string[] {
  const end = typed.indexOf('--');
  const argv = typed.map((word, i) => (word === '-h' && (end === -1 || i < end) ? '--help' : word));
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const word = argv[i] as string;
    const name = word.split('=')[0] as string;
    if (VALUE_FLAGS.has(name) && word.includes('=')) leading.push(word);
    else if (VALUE_FLAGS.has(word) && i + 1 < argv.length) leading.push(word, argv[++i] as string);
    else if (BOOLEAN_FLAGS.has(word)) leading.push(word);
    else break;
    i += 1;
  }
  const rest = argv.slice(i);
  if (rest.length === 0) return argv;
  if (rest[0] === 'help' && rest.length === 1) return ['--help', ...leading];
  if (rest[0] === 'help' && !rest[1]?.startsWith('-')) return [...rest.slice(1), '--help', ...leading];
  return [...rest, ...leading];
}
