import {
  type ControlPlaneEvent,
  DEFAULT_WATCH_LIMITS,
  parseRetentionDuration,
  type WatchEvent,
} from '@hacp/sdk';
import { Flags } from '@oclif/core';
import { HacpCommand } from '../base-command.js';
import { ErrorCode, HacpError } from '../errors.js';

/** What `hacp watch` prints when it stops. */
export interface WatchResult {
  cluster: string;
  /** How many watch events it printed. */
  events: number;
}

const duration = (summary: string, fallback: string) =>
  Flags.string({
    summary,
    description: `A duration such as 30s, 5m, 1h. Default: ${fallback}.`,
    helpValue: '<duration>',
  });

export default class Watch extends HacpCommand<typeof Watch, WatchResult> {
  static override summary = 'Watch the cluster and repair it within limits, until stopped.';

  static override description =
    "Every --interval it looks at the cluster and, within limits, acts: starts a replica that stopped or whose processes died (`hacp repair`); replaces one unhealthy for longer than --unhealthy-after, at most --max-retries times per place and never twice within --retry-period; never with one replica, never while an operation is in flight, and never in a zone that looks failed (it waits and says so); takes a backup every --backup-every; renews certificates expiring within --renew-within days. Each action is a normal operation under the cluster lock, so a person's command and the watch's never run at once (the later one is refused LOCKED). Every action and every reason not to act is printed as it happens: one line each, or with --json one JSON object per line. Stops on Ctrl-C or SIGTERM, after the action under way stops at its next safe point. A systemd unit example is in the README.";

  static override examples = [
    { description: 'Watch in the foreground.', command: '<%= config.bin %> watch' },
    {
      description: 'As events for a log collector, replacing after 2 minutes.',
      command: '<%= config.bin %> watch --unhealthy-after 2m --json',
    },
  ];

  static override flags = {
    interval: duration('How often it looks.', '30s'),
    'unhealthy-after': duration('How long a replica stays unhealthy before it is replaced.', '5m'),
    'max-retries': Flags.integer({
      summary: 'How many times one replica’s place is replaced at most.',
      description: `Default: ${DEFAULT_WATCH_LIMITS.maxRetries}.`,
      min: 0,
    }),
    'retry-period': duration('The least time between two replacements of one place.', '10m'),
    'backup-every': duration('How often it takes a backup (kept by the backup retention).', '1h'),
    'no-backups': Flags.boolean({ summary: 'Take no scheduled backups.' }),
    'renew-within': Flags.integer({
      summary: 'Renew certificates expiring within this many days; 0 never.',
      description: `Default: ${DEFAULT_WATCH_LIMITS.renewWithinDays}.`,
      min: 0,
    }),
  };

  protected override readonly jsonLines = true;
  #printed = 0;

  async run(): Promise<WatchResult> {
    const flags = this.flags;
    const ms = (value: string | undefined, field: string) =>
      value === undefined ? undefined : parseRetentionDuration(value, field);
    const intervalMs = ms(flags.interval, '--interval');
    const limits = {
      unhealthyAfterMs: ms(flags['unhealthy-after'], '--unhealthy-after'),
      retryPeriodMs: ms(flags['retry-period'], '--retry-period'),
      backupEveryMs: flags['no-backups'] ? 0 : ms(flags['backup-every'], '--backup-every'),
      maxRetries: flags['max-retries'],
      renewWithinDays: flags['renew-within'],
    };
    if (flags['no-backups'] && flags['backup-every'] !== undefined)
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: '--backup-every and --no-backups contradict each other.',
        actions: ['Pass one of them.'],
        details: { field: 'backup-every' },
      });
    const controlPlane = await this.controlPlane();
    await controlPlane.watch({ signal: this.signal, ...(intervalMs ? { intervalMs } : {}), limits });
    return { cluster: this.settings.cluster, events: this.#printed };
  }

  protected override onControlPlaneEvent(event: ControlPlaneEvent): void {
    if (event.type !== 'watch') return;
    this.#printed += 1;
    this.io.writeStdout(this.settings.json ? `${JSON.stringify(event)}\n` : renderWatchEvent(event));
  }

  protected override renderText(result: WatchResult): string {
    return `Watched cluster ${result.cluster}: ${result.events} events.\n`;
  }
}

/** One line per watch event: its time, what it did or why not, and the code. */
export function renderWatchEvent(event: WatchEvent): string {
  const code = event.code === undefined ? '' : ` (${event.code})`;
  return `${event.time} ${event.action}${code}: ${event.message}\n`;
}
