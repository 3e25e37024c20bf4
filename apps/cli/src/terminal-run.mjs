// Runs the built `hacp` as a person would on a terminal, and SIGKILLs it by its pid at a chosen
// progress line, after a delay, or once a condition on disk holds: the fault injection of the crash
// tests and of the kill campaign, kept out of the shipped CLI. Plain JavaScript (typed by
// terminal-run.d.mts) so that scripts/kill-campaign.mjs runs it with node alone.
//
// The CLI prints progress lines only when stderr is a terminal and has no setting to print them
// otherwise, so it runs under util-linux's `script`, which gives it a pseudo-terminal: what it
// prints is exactly what a person sees.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js');

/** The first line the terminal shows: the shell's pid, which `exec` hands on to node. */
const PID_MARK = 'hacp-terminal-pid';
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');
/** How often a kill condition on disk is looked at: the windows it aims at last 50 ms or more. */
const CONDITION_POLL_MS = 2;

const shellWord = (word) => `'${String(word).replaceAll("'", `'\\''`)}'`;

/**
 * A step's progress line, as the CLI prints it when the step starts (`[3/11] Take a snapshot …`)
 * and when it ends (`… done`, `… already in place`, `… not needed`, `… already gone`).
 */
export function parseStepLine(line) {
  const match = /^\[(\d+)\/(\d+)\] (.*) …(?: (.+))?$/.exec(line);
  if (match === null) return undefined;
  const [, index, steps, title, outcome] = match;
  return {
    index: Number(index),
    steps: Number(steps),
    title,
    ...(outcome === undefined ? {} : { outcome }),
  };
}

/** Runs `hacp <args>` on a pseudo-terminal; see terminal-run.d.mts. */
export function runOnTerminal(args, options) {
  const { stateDir, kill = {}, cli = CLI, timeoutMs = 300_000 } = options;
  const env = {
    ...process.env,
    HACP_STATE_DIR: stateDir,
    HACP_KUBERNETES: 'false',
    SHELL: '/bin/sh',
    NO_COLOR: '1',
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const command = `echo "${PID_MARK} $$"; exec ${[process.execPath, cli, ...args].map(shellWord).join(' ')}`;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const terminal = spawn('script', ['-qefc', command, '/dev/null'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pid;
    let text = '';
    let pending = '';
    let triggeredAt;
    let killedAt;
    let timedOut = false;
    const timers = new Set();
    const later = (ms, work) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        work();
      }, ms);
      timers.add(timer);
    };
    const exited = () => terminal.exitCode !== null || terminal.signalCode !== null;

    const killNow = (reason) => {
      if (killedAt !== undefined || exited()) return;
      if (pid === undefined) {
        later(CONDITION_POLL_MS, () => killNow(reason));
        return;
      }
      try {
        process.kill(pid, 'SIGKILL');
        killedAt = { reason, ms: Date.now() - started };
      } catch {
        // It has exited on its own meanwhile.
      }
    };
    const whenReady = (reason) => {
      if (kill.when === undefined) {
        killNow(reason);
        return;
      }
      const poll = () => {
        if (exited() || killedAt !== undefined) return;
        if (kill.when()) killNow(`${reason}, then ${kill.whenDescription ?? 'the condition'}`);
        else later(CONDITION_POLL_MS, poll);
      };
      poll();
    };
    const trigger = (reason) => {
      if (triggeredAt !== undefined) return;
      triggeredAt = Date.now();
      const delay = kill.afterMs ?? 0;
      if (delay > 0) later(delay, () => whenReady(`${reason} + ${delay} ms`));
      else whenReady(reason);
    };

    const look = (line, complete) => {
      if (pid === undefined && line.startsWith(PID_MARK)) {
        if (complete) pid = Number(line.slice(PID_MARK.length + 1));
        return;
      }
      if (kill.atLine !== undefined && triggeredAt === undefined && kill.atLine(line)) trigger(line);
    };
    terminal.stdout.on('data', (chunk) => {
      pending += String(chunk).replace(ANSI, '');
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const clean = line.replaceAll('\r', '');
        look(clean, true);
        if (!clean.startsWith(PID_MARK)) text += `${clean}\n`;
      }
      // A step's line stays open (no newline) until the step ends: it counts once it reads whole.
      if (pending.endsWith('…')) look(pending.replaceAll('\r', ''), false);
    });
    terminal.stderr.on('data', (chunk) => {
      text += String(chunk);
    });
    if (kill.atLine === undefined && (kill.afterMs !== undefined || kill.when !== undefined)) {
      trigger('start');
    }
    later(timeoutMs, () => {
      timedOut = true;
      for (const target of [pid, terminal.pid]) {
        if (target === undefined) continue;
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
    terminal.on('error', reject);
    terminal.on('close', (code) => {
      for (const timer of timers) clearTimeout(timer);
      text += pending.replaceAll('\r', '');
      // `script -e` exits with the child's status, 128 + 9 for a SIGKILL.
      const signal = code === 137 ? 'SIGKILL' : null;
      resolve({
        code: signal === null ? code : null,
        signal,
        killed: killedAt !== undefined,
        ...(killedAt === undefined ? {} : { killedAt: killedAt.reason, killedAfterMs: killedAt.ms }),
        timedOut,
        pid,
        output: text,
        ms: Date.now() - started,
      });
    });
  });
}
