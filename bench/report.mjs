// What every benchmark here shares for reporting: statistics and the README tables.

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
