// What every benchmark here shares for reporting: statistics and the README tables.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The median of some numbers (the mean of the middle two for an even count). */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** A markdown table laid out as biome formats markdown, so `biome check` accepts the README as written. */
export function markdownTable(columns, rows) {
  const widths = columns.map(({ title }, index) =>
    Math.max(title.length, ...rows.map((row) => [...row[index]].length)),
  );
  const pad = (text, index) => {
    const space = ' '.repeat(widths[index] - [...text].length);
    return columns[index].right ? `${space}${text}` : `${text}${space}`;
  };
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [
    line(columns.map(({ title }, index) => pad(title, index))),
    line(
      columns.map(({ right }, index) =>
        right ? `${'-'.repeat(widths[index] - 1)}:` : '-'.repeat(widths[index]),
      ),
    ),
    ...rows.map((row) => line(row.map(pad))),
  ].join('\n');
}

/** Replaces what stands between two markers in bench/README.md with `text`. */
export function rewriteReadmeSection({ start: startMarker, end: endMarker, text }) {
  const path = join(dirname(fileURLToPath(import.meta.url)), 'README.md');
  const readme = readFileSync(path, 'utf8');
  const start = readme.indexOf(startMarker);
  const end = readme.indexOf(endMarker);
  if (start < 0 || end < start) throw new Error(`${path} lacks the markers ${startMarker} … ${endMarker}`);
  writeFileSync(path, `${readme.slice(0, start + startMarker.length)}\n${text}\n${readme.slice(end)}`);
}
