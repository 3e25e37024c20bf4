/**
 * Everything the CLI takes from the process: environment, streams, terminal, signals, exit code,
 * and the factories of providers and control planes. Commands get it from `HacpCommand.runtime()`,
 * so tests run them in-process with a fake one instead of patching globals.
 */
import { homedir } from 'node:os';
import { createInterface } from 'node:readline';
import type { ControlPlane, ControlPlaneSettings } from '@hacp/sdk';
import type { Environment } from './env.js';
import { createCliProvider, type Provider, type ProviderContext } from './providers.js';

export interface CliRuntime {
  readonly env: Environment;
  /** The home folder, for the default state folder. */
  readonly home: string;
  /** The working folder: `hacp-provider-<name>` packages are looked for in its node_modules. */
  readonly cwd: string;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
  /** Whether stderr is a terminal: progress lines go there. */
  readonly stderrIsTTY: boolean;
  /** Whether stdin and stderr are terminals: a person can answer a question. */
  readonly interactive: boolean;
  /** Asks a yes/no question on the terminal; true only for `y` or `yes`; false on Ctrl-C or abort. */
  confirm(question: string, signal: AbortSignal): Promise<boolean>;
  /** Calls `handler` on SIGINT and SIGTERM; returns what removes it. */
  onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void;
  setExitCode(code: number): void;
  /** Ends the process now (a second Ctrl-C). */
  exitNow(code: number): void;
  /** Makes the provider `--provider <name>` means: built in, a plugin's, or an installed package's. */
  createProvider(name: string, context: ProviderContext): Provider | Promise<Provider>;
  /** Loads the SDK on first use: it takes about a second, which `--help` and bad input need not wait for. */
  createControlPlane(settings: ControlPlaneSettings): Promise<ControlPlane>;
}

/** The real process. */
export function processRuntime(): CliRuntime {
  return {
    env: process.env,
    home: homedir(),
    cwd: process.cwd(),
    writeStdout: (text) => {
      process.stdout.write(text);
    },
    writeStderr: (text) => {
      process.stderr.write(text);
    },
    stderrIsTTY: process.stderr.isTTY === true,
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
    confirm: (question, signal) =>
      new Promise<boolean>((resolve) => {
        const prompt = createInterface({ input: process.stdin, output: process.stderr });
        const done = (answer: boolean) => {
          signal.removeEventListener('abort', onAbort);
          prompt.close();
          resolve(answer);
        };
        const onAbort = () => done(false);
        signal.addEventListener('abort', onAbort, { once: true });
        // In raw mode Ctrl-C reaches readline, not the process.
        prompt.on('SIGINT', () => {
          process.stderr.write('\n');
          done(false);
        });
        prompt.question(question, (answer) => done(/^(y|yes)$/i.test(answer.trim())));
      }),
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
    setExitCode: (code) => {
      process.exitCode = code;
    },
    exitNow: (code) => process.exit(code),
    createProvider: (name, context) => createCliProvider(name, context),
    createControlPlane: async (settings) => (await import('@hacp/sdk')).createControlPlane(settings),
  };
}
