/**
 * Progress on stderr: one line per step, wait and warning. On a terminal a step's line is written
 * when it starts and completed in place (`… done`) when nothing came in between, and a download is
 * one line redrawn in place (file, MB, bar) and ended when the file is complete or other output
 * comes.
 */
import type { ControlPlaneEvent } from '@hacp/sdk';
import { type DownloadState, renderDownload, renderProgressEvent, stepOutcomeText } from './render.js';

export interface ProgressPrinterOptions {
  /** Where the text goes (stderr). */
  write: (text: string) => void;
  /** Print steps, waits and downloads (a terminal, no `--json`); otherwise only warnings and rollbacks. */
  steps: boolean;
}

export class ProgressPrinter {
  readonly #write: (text: string) => void;
  readonly #steps: boolean;
  /** The step whose `… ` line is open, waiting for its status. */
  #openStep: string | undefined;
  /** The download whose line is open, and the text drawn last (to redraw only on a change). */
  #openDownload: { file: string; drawn: string } | undefined;
  /** The file whose line was ended complete: a repeated final report must not draw it twice. */
  #completed: string | undefined;

  constructor(options: ProgressPrinterOptions) {
    this.#write = options.write;
    this.#steps = options.steps;
  }

  /** Prints what the event says, if anything. */
  handle(event: ControlPlaneEvent): void {
    const quiet = event.type !== 'warning' && event.type !== 'rollback-started';
    if (quiet && !this.#steps) return;
    if (event.type === 'download') {
      this.download(event);
      return;
    }
    if (event.type === 'step-done' && this.#openStep === event.step) {
      this.#openStep = undefined;
      this.#write(` ${stepOutcomeText({ id: event.step, status: event.status })}\n`);
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

  /**
   * Draws a download's line in place (on a terminal only); the line ends when the file is complete.
   * `binaries fetch` calls it with its `onProgress` reports, the SDK's `download` events come
   * through {@link handle}.
   */
  download(progress: DownloadState): void {
    if (!this.#steps) return;
    const complete = progress.totalBytes !== undefined && progress.receivedBytes >= progress.totalBytes;
    if (complete && this.#completed === progress.file && this.#openDownload === undefined) return;
    this.#completed = undefined;
    if (this.#openDownload?.file !== progress.file) this.finish();
    const text = renderDownload(progress);
    const previous = this.#openDownload?.drawn;
    if (text !== previous) {
      // Spaces clear what a longer previous drawing left on the line.
      const clear = ' '.repeat(Math.max(0, (previous?.length ?? 0) - text.length));
      this.#write(`\r${text}${clear}`);
    }
    if (complete) {
      this.#write('\n');
      this.#openDownload = undefined;
      this.#completed = progress.file;
      return;
    }
    this.#openDownload = { file: progress.file, drawn: text };
  }

  /** Ends an open step or download line, before other output. */
  finish(): void {
    if (this.#openDownload !== undefined) {
      this.#openDownload = undefined;
      this.#write('\n');
    }
    if (this.#openStep === undefined) return;
    this.#openStep = undefined;
    this.#write('\n');
  }
}
