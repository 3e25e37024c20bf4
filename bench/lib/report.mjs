// What every benchmark here shares for reporting: statistics, the README tables and their wording,
// and where the results go (results.json and the README sections).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/README.md, which holds every benchmark's recorded tables between markers. */
const README = join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md');

// --- statistics -----------------------------------------------------------------------------------

/** To a tenth; undefined stays undefined (a part a run did not have). */
export const round1 = (value) => (value === undefined ? undefined : Math.round(value * 10) / 10);
/** To a hundredth. */
export const round2 = (value) => Math.round(value * 100) / 100;

/** The median of some numbers (the mean of the middle two for an even count). */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** Nearest-rank percentile: the smallest sample at or above `q` of them; undefined for none. */
export const percentile = (values, q) => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
};

/** Median, least and most of some numbers, each rounded with `round`. */
export const spread = (values, round = round1) => ({
  median: round(median(values)),
  min: round(Math.min(...values)),
  max: round(Math.max(...values)),
});

/** `spread` of durations in ms, named as the results files name them. */
export const spreadMs = (values) => {
  const { median: medianMs, min: minMs, max: maxMs } = spread(values);
  return { medianMs, minMs, maxMs };
};

// --- wording ----------------------------------------------------------------------------------------

/** A duration in ms as the tables print it: whole from 100 on, else to a tenth; `n/a` when missing. */
export const msText = (value) =>
  value === undefined ? 'n/a' : Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);

/** A load average (one, five and fifteen minutes) as `1.2 0.9 0.7`. */
export const loadText = (average) => average.map((value) => value.toFixed(1)).join(' ');

/** `1 round`, `3 rounds`. */
export const plural = (count, noun) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** The start of every results line under a table: when, and on what machine (describeHost's fields). */
export const recordedOn = (date, host) =>
  `Recorded ${date} on ${host.cpu}, ${host.cores} cores, ${host.memoryGb} GB, ${host.os}; Node ${host.node}`;

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
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf(startMarker);
  const end = readme.indexOf(endMarker);
  if (start < 0 || end < start) throw new Error(`${README} lacks the markers ${startMarker} … ${endMarker}`);
  writeFileSync(README, `${readme.slice(0, start + startMarker.length)}\n${text}\n${readme.slice(end)}`);
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

// --- where the results go ---------------------------------------------------------------------------

/** The results a benchmark recorded last, from its folder's results.json. */
export function readResults(folder) {
  return JSON.parse(readFileSync(join(folder, 'results.json'), 'utf8'));
}

/**
 * What a run does with its results once it has printed them: a full run writes `folder/results.json`
 * (`format` lays it out) and rewrites its README sections; `--quick` leaves both alone; `--from-results`
 * (the results were read from results.json, not measured) rewrites the README sections only.
 * `tables` names what the sections hold in the closing line (`the table`, `the tables`).
 */
export function saveResults({ folder, options, results, sections, format = toJson, tables = 'the tables' }) {
  if (options.quick) {
    console.log('\n(--quick: a smoke run; results.json and the README table were left as they were.)');
    return;
  }
  const file = join(folder, 'results.json');
  const name = relative(process.cwd(), file) || 'results.json';
  if (!options['from-results']) writeFileSync(file, `${format(results)}\n`);
  for (const section of sections) rewriteReadmeSection(section);
  console.log(
    options['from-results']
      ? `\nRewrote ${tables} in bench/README.md from ${name} as recorded (${results.date}); measured nothing.`
      : `\nWrote ${name} and ${tables} in bench/README.md.`,
  );
}
