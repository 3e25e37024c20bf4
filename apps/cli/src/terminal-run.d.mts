/** The built CLI, `apps/cli/bin/run.js`. */
export declare const CLI: string;

/** A step's progress line, parsed. */
export interface StepLine {
  /** 1-based, as printed: `[index/steps]`. */
  index: number;
  steps: number;
  title: string;
  /** Absent while the step runs; `done`, `already in place`, `not needed` or `already gone` once it ended. */
  outcome?: string;
}

/**
 * When to SIGKILL the CLI. The three parts compose in order: the first line `atLine` accepts (or
 * the start, without it), then `afterMs`, then as soon as `when` returns true. A CLI that exits
 * first is not killed.
 */
export interface KillPlan {
  /** Called with every progress line, an open step line (`[3/11] Title …`) as soon as it shows. */
  atLine?: (line: string) => boolean;
  afterMs?: number;
  /** Polled every 2 ms: a state on disk, say, that marks a window. */
  when?: () => boolean;
  /** What `when` waits for, for the report. */
  whenDescription?: string;
}

/** How a run on the terminal ended. */
export interface TerminalRun {
  /** The exit code; null when it was killed. */
  code: number | null;
  signal: 'SIGKILL' | null;
  /** Whether this harness killed it (a CLI that exited first was not). */
  killed: boolean;
  /** What triggered the kill: the line, `start + 800 ms`, and the condition. */
  killedAt?: string;
  /** When the kill was sent, from the start of the run. */
  killedAfterMs?: number;
  /** Killed for running longer than `timeoutMs`. */
  timedOut: boolean;
  /** The CLI's node process. */
  pid: number | undefined;
  /** What the terminal showed (stdout and stderr, one stream on a terminal), without carriage returns. */
  output: string;
  ms: number;
}

/** Parses `[3/11] Title …` and `[3/11] Title … done`; undefined for any other line. */
export declare function parseStepLine(line: string): StepLine | undefined;

/**
 * Runs `hacp <args>` on a pseudo-terminal (util-linux `script`), so that it prints its progress
 * lines, and SIGKILLs its node process by pid as `kill` says. The child gets `HACP_STATE_DIR` and
 * `HACP_KUBERNETES=false` (an etcd-only cluster) unless `env` overrides them. Never rejects for a
 * non-zero exit; a run longer than `timeoutMs` (default 5 min) is killed.
 *
 * @example
 * const run = await runOnTerminal(['replicate', '--zone', 'local-b'], {
 *   stateDir,
 *   kill: { atLine: (line) => parseStepLine(line)?.index === 6 },
 * });
 * // run.signal === 'SIGKILL', run.killedAt === '[6/11] Create kubernetes-master-1a2 in local-b; … …'
 * @throws Error when `script` cannot be started.
 */
export declare function runOnTerminal(
  args: readonly string[],
  options: {
    stateDir: string;
    env?: Record<string, string | undefined>;
    kill?: KillPlan;
    cli?: string;
    timeoutMs?: number;
  },
): Promise<TerminalRun>;
