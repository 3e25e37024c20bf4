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

/**
 * JSON as biome formats it (the bench package lints its results files): objects one key a line,
 * arrays of numbers filled up to the line width, other arrays on one line when they fit. A value
 * counts the comma after it only when one follows: biome fits `"key": [...]` up to the width exactly
 * when it is the last of its object.
 */
export function toJson(value, indent = '', column = 0, trailing = 0) {
  const width = 110;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((item, index) =>
      toJson(item, inner, inner.length, index < value.length - 1 ? 1 : 0),
    );
    const flat = `[${items.join(', ')}]`;
    const primitive = value.every((item) => item === null || typeof item !== 'object');
    if (primitive && !flat.includes('\n') && column + flat.length + trailing <= width) return flat;
    if (value.every((item) => typeof item === 'number')) {
      const lines = [];
      let line = '';
      for (const [index, item] of items.entries()) {
        const text = index === items.length - 1 ? item : `${item},`;
        if (line === '') line = `${inner}${text}`;
        else if (line.length + 1 + text.length <= width) line += ` ${text}`;
        else {
          lines.push(line);
          line = `${inner}${text}`;
        }
      }
      lines.push(line);
      return `[\n${lines.join('\n')}\n${indent}]`;
    }
    return `[\n${items.map((item) => `${inner}${item}`).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    if (entries.length === 0) return '{}';
    const lines = entries.map(([key, item], index) => {
      const prefix = `${inner}${JSON.stringify(key)}: `;
      return `${prefix}${toJson(item, inner, prefix.length, index < entries.length - 1 ? 1 : 0)}`;
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}
