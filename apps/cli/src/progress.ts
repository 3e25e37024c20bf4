/**
 * Progress on stderr: one line per step, wait and warning. On a terminal a step's line is written
 * when it starts and completed in place (`… done`) when nothing came in between.
 */
import type { ControlPlaneEvent } from '@hacp/sdk';
import { renderProgressEvent } from './render.js';

export interface ProgressPrinterOptions {
  /** Where the text goes (stderr). */
  write: (text: string) => void;
  /** Print steps and waits (a terminal, no `--json`); otherwise only warnings and rollbacks. */
  steps: boolean;
}

export class ProgressPrinter {
  readonly #write: (text: string) => void;
  readonly #steps: boolean;
  /** The step whose `… ` line is open, waiting for its status. */
  #openStep: string | undefined;

  constructor(options: ProgressPrinterOptions) {
    this.#write = options.write;
    this.#steps = options.steps;
  }

  /** Prints what the event says, if anything. */
  handle(event: ControlPlaneEvent): void {
    const quiet = event.type !== 'warning' && event.type !== 'rollback-started';
    if (quiet && !this.#steps) return;
    if (event.type === 'step-done' && this.#openStep === event.step) {
      this.#openStep = undefined;
      this.#write(` ${event.status}\n`);
      return;
    }
    const text = renderProgressEvent(event);
    if (text === undefined) return;
    this.finish();
    if (event.type === 'step-started') {
      this.#openStep = event.step;
      this.#write(text);
      return;
    }
    this.#write(`${text}\n`);
  }

  /** Ends an open step line, before other output. */
  finish(): void {
    if (this.#openStep === undefined) return;
    this.#openStep = undefined;
    this.#write('\n');
  }
}
