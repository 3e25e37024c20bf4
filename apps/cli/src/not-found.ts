/**
 * An unknown command: the nearest known ones ("did you mean"), as a HacpError, so that it prints
 * like every other refusal (exit 2, and with --json the error envelope).
 */
import { ErrorCode, HacpError } from './errors.js';

/** Edit distance between two words (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The refusal of `hacp <typed>`, naming the closest commands (by edit distance, within a quarter of
 * the length) or pointing at `hacp --help`.
 *
 * @example
 * unknownCommand('statuss', ['status', 'up']).actions; // ['Did you mean `hacp status`?']
 */
export function unknownCommand(typed: string, commands: readonly string[]): HacpError {
  // oclif hands over the arguments too (`zone fial local-b`): each leading part of it is a candidate.
  const words = typed.split(' ');
  const prefixes = words.map((_, i) => words.slice(0, i + 1).join(' '));
  const scored = commands
    .map((command) => ({
      command,
      score: Math.min(
        ...prefixes.map((prefix) =>
          distance(prefix, command) <= Math.max(1, Math.floor(prefix.length / 4))
            ? distance(prefix, command)
            : Infinity,
        ),
      ),
    }))
    .filter((entry) => entry.score !== Infinity)
    .sort((a, b) => a.score - b.score || a.command.localeCompare(b.command));
  const best = scored
    .filter((entry) => entry.score === scored[0]?.score)
    .map((entry) => `\`hacp ${entry.command}\``);
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `There is no command \`hacp ${typed}\`.`,
    actions: [
      ...(best.length > 0 ? [`Did you mean ${best.join(' or ')}?`] : []),
      'Run `hacp --help` to list the commands.',
    ],
    details: { field: 'command', value: typed },
  });
}
