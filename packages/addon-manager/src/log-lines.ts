/** The JSON log lines the program writes for a pass: a summary, and one line per problem. */
import { ADDON_MODE_LABEL } from './manifests.js';
import type { AddonPassReport } from './run.js';

/** One log line, before it gets its time stamp. */
export interface AddonLogLine {
  level: 'info' | 'warn' | 'error';
  event: string;
  [field: string]: unknown;
}

/** What the log has said already, so that a lasting state is reported when it starts, not at every pass. */
export interface AddonLogMemory {
  ignored: Set<string>;
  pruneSkipped?: string;
}

/**
 * The lines for one pass: `pass` with the counts and the names of what it changed; `problem` per
 * file that could not be read; `failed` per object that failed; `ignored` for an object without a
 * mode the first time it is seen; `prune-skipped` when pruning stops (and `prune-resumed` when it
 * starts again).
 */
export function passLogLines(report: AddonPassReport, memory: AddonLogMemory): AddonLogLine[] {
  const lines: AddonLogLine[] = [];
  for (const problem of report.problems) lines.push({ level: 'warn', event: 'problem', ...problem });
  for (const name of report.ignored) {
    if (memory.ignored.has(name)) continue;
    memory.ignored.add(name);
    lines.push({
      level: 'info',
      event: 'ignored',
      object: name,
      message: `it has no ${ADDON_MODE_LABEL} label of Reconcile or EnsureExists, so it is left alone.`,
    });
  }
  for (const failure of report.failed) lines.push({ level: 'warn', event: 'failed', ...failure });
  if (report.pruneSkipped !== memory.pruneSkipped) {
    lines.push(
      report.pruneSkipped === undefined
        ? { level: 'info', event: 'prune-resumed' }
        : { level: 'warn', event: 'prune-skipped', reason: report.pruneSkipped },
    );
    memory.pruneSkipped = report.pruneSkipped;
  }
  const changed = Object.fromEntries(
    (['created', 'applied', 'pruned'] as const)
      .filter((outcome) => report[outcome].length > 0)
      .map((outcome) => [outcome, report[outcome]]),
  );
  lines.push({
    level: report.failed.length > 0 || report.problems.length > 0 ? 'warn' : 'info',
    event: 'pass',
    counts: {
      created: report.created.length,
      applied: report.applied.length,
      unchanged: report.unchanged.length,
      pruned: report.pruned.length,
      ignored: report.ignored.length,
      failed: report.failed.length,
      problems: report.problems.length,
    },
    changed,
  });
  return lines;
}
