/**
 * What hacp prints as the next command to run keeps the global flags the user gave: a hint pasted
 * as it is must act on the same cluster, provider and state folder (`hacp resume` after
 * `hacp replicate --cluster solo` is `hacp resume --cluster solo`).
 */

/** The global flags given on the command line (not those that came from the environment). */
export interface GivenFlags {
  cluster?: string | undefined;
  provider?: string | undefined;
  project?: string | undefined;
  'state-dir'?: string | undefined;
}

const shellWord = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * Every backticked `hacp …` command in `text` with the given flags it does not name already,
 * appended.
 *
 * @example
 * withGivenFlags('Run `hacp resume` to continue.', { cluster: 'solo' });
 * // 'Run `hacp resume --cluster solo` to continue.'
 */
export function withGivenFlags(text: string, flags: GivenFlags): string {
  const given = (Object.entries(flags) as [keyof GivenFlags, string | undefined][]).filter(
    (entry): entry is [keyof GivenFlags, string] => entry[1] !== undefined,
  );
  if (given.length === 0) return text;
  return text.replace(/`hacp( [^`]*)?`/g, (command: string) => {
    const body = command.slice(1, -1);
    // A shell line of several commands, or a placeholder for the whole command line, is left alone.
    if (/&&|\|\||;|\|/.test(body) || body === 'hacp') return command;
    const missing = given.filter(([flag]) => !new RegExp(`(^| )--${flag}( |=|$)`).test(body));
    return `\`${[body, ...missing.map(([flag, value]) => `--${flag} ${shellWord(value)}`)].join(' ')}\``;
  });
}
