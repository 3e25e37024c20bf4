/**
 * The base of every hacp command (Salesforce CLI style): global flags, the provider and control
 * plane, progress, Ctrl-C, and the output. A command's `run()` returns data; this class prints it
 * as text or as the one `--json` envelope, and turns errors into exit codes.
 */
import { join, resolve } from 'node:path';
import type { LocalProvider } from '@hacp/provider-local';
import type {
  BackupRetention,
  ControlPlane,
  ControlPlaneEvent,
  ControlPlaneSettings,
  DownloadProgress,
  KubernetesBinarySource,
} from '@hacp/sdk';
import { Command, Flags, type Interfaces, toConfiguredId } from '@oclif/core';
import { defaultCluster, defaultProvider, defaultStateDir, readBackupRetentionVariables } from './env.js';
import { type CliWarning, errorEnvelope, formatEnvelope, successEnvelope, WarningList } from './envelope.js';
import {
  assertClusterName,
  ErrorCode,
  exitCodeOf,
  HacpError,
  isHacpError,
  renderError,
  toHacpError,
} from './errors.js';
import { type GivenFlags, withGivenFlags } from './hints.js';
import { ProgressPrinter } from './progress.js';
import { assertProviderName, isLocalProvider, KNOWN_PROVIDERS, type Provider } from './providers.js';
import { renderWarnings } from './render.js';
import { type CliRuntime, processRuntime } from './runtime.js';

/** The parsed flags of a command, with the global ones. */
export type HacpFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof HacpCommand)['baseFlags'] & T['flags']
>;
/** The parsed arguments of a command. */
export type HacpArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/** The global settings every command resolves from its flags and the environment. */
export interface GlobalSettings {
  cluster: string;
  /** `--provider`: a built-in provider's name or a plugin's. */
  provider: string;
  /** Absolute. */
  stateDir: string;
  /** `<stateDir>/clusters/<cluster>`: the cluster's PKI and snapshots. */
  dataDir: string;
  /** `--project` (GCE). */
  project?: string;
  json: boolean;
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** An oclif parse error (unknown flag, missing argument, bad option) as INVALID_ARGUMENT, exit 2. */
export function parseErrorToHacpError(error: unknown, command: string): HacpError {
  if (isHacpError(error)) return error;
  const raw = error instanceof Error ? error.message : String(error);
  const message = raw
    .replace(ANSI, '')
    .split('\n')
    .filter((line) => !/^see more help with/i.test(line.trim()))
    .join('\n')
    .trim();
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: message === '' ? 'The command line is not valid.' : message,
    actions: [`Run \`hacp ${command} --help\` for its flags and arguments.`],
    cause: error,
  });
}

/**
 * Subclass it as `class Up extends HacpCommand<typeof Up, OperationResult>`, implement `run()`
 * (returning the result) and `renderText(result)`.
 */
export abstract class HacpCommand<T extends typeof Command, R> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    cluster: Flags.string({
      summary: 'The cluster to act on.',
      description: 'Default: $HACP_CLUSTER, else kubernetes.',
      helpGroup: 'GLOBAL',
      helpValue: '<name>',
    }),
    provider: Flags.string({
      summary: `Where the replicas run: ${KNOWN_PROVIDERS.join(', ')}, or a plugin's provider.`,
      description:
        'Default: $HACP_PROVIDER, else local. Run `hacp providers` to list them; `hacp plugins install` adds more.',
      helpGroup: 'GLOBAL',
      helpValue: '<name>',
    }),
    project: Flags.string({
      summary: 'The cloud project (--provider gce).',
      description: 'Default: $HACP_GCE_PROJECT, else $CLOUDSDK_CORE_PROJECT.',
      helpGroup: 'GLOBAL',
      helpValue: '<id>',
    }),
    'state-dir': Flags.string({
      summary: "The provider's state folder.",
      description: 'Default: $HACP_STATE_DIR, else $XDG_STATE_HOME/hacp, else ~/.local/state/hacp.',
      helpGroup: 'GLOBAL',
      helpValue: '<folder>',
    }),
  };

  protected flags!: HacpFlags<T>;
  protected args!: HacpArgs<T>;
  protected settings!: GlobalSettings;
  /** The process, or a test's fake: see {@link runtime}. */
  protected io!: CliRuntime;

  /** Whether an interruption leaves an operation for `hacp resume` (the mutating commands). */
  protected readonly resumable: boolean = false;

  /** What an interrupted run says to do next: `hacp resume` for a resumable command. */
  protected get continueAction(): string | undefined {
    return this.resumable ? 'Run `hacp resume` to continue.' : undefined;
  }

  readonly #abort = new AbortController();
  readonly #warnings = new WarningList();
  /** Warnings already on stderr. */
  readonly #shown = new WarningList();
  #progress: ProgressPrinter | undefined;
  #provider: Promise<Provider> | undefined;
  #controlPlane: Promise<ControlPlane> | undefined;
  #interrupts = 0;
  /** Set once the process is ending at once (a second Ctrl-C): nothing more is printed. */
  #exited = false;

  /** What the command returns; printed by the base class. */
  abstract override run(): Promise<R>;

  /** The result as text for stdout (without warnings: they go to stderr). */
  protected abstract renderText(result: R): string;

  /** The process the command runs in; tests override it with a fake (see test-support's runCommand). */
  runtime(): CliRuntime {
    return processRuntime();
  }

  /** The warnings a result carries; by default its `warnings` array, if it has one. */
  protected resultWarnings(result: R): CliWarning[] {
    const warnings = (result as { warnings?: unknown } | undefined)?.warnings;
    if (!Array.isArray(warnings)) return [];
    return warnings.filter(
      (warning): warning is CliWarning =>
        typeof warning?.code === 'string' && typeof warning?.message === 'string',
    );
  }

  /** Aborted on SIGINT/SIGTERM; pass it to every SDK call. */
  protected get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** A warning of the CLI itself: in the envelope, and on stderr at once in text mode. */
  protected addWarning(warning: CliWarning): void {
    if (!this.#warnings.add(warning)) return;
    if (this.settings?.json !== true) this.#showWarnings([warning]);
  }

  /** The provider of `--provider`, created on first use. */
  protected provider(): Promise<Provider> {
    this.#provider ??= Promise.resolve(
      this.io.createProvider(this.settings.provider, {
        stateDir: this.settings.stateDir,
        env: this.io.env,
        config: this.config,
        cwd: this.io.cwd,
        ...(this.settings.project === undefined ? {} : { project: this.settings.project }),
      }),
    );
    return this.#provider;
  }

  /** The local provider, for what only it can do (`zone fail`). @throws HacpError INVALID_ARGUMENT */
  /**
   * The local provider, for `zone fail|restore <zone>`: refused (nothing changed) for a zone it does
   * not offer, and, where `--cluster` names a cluster, for one that does not exist (a zone outage
   * hits every cluster's replicas in it, so a mistyped cluster must not go on to stop the others).
   */
  protected async zoneProvider(command: string, zone: string): Promise<LocalProvider> {
    const provider = await this.localProvider(command);
    const zones = (await provider.zones.list({ signal: this.signal })).map((offered) => offered.name);
    if (!zones.includes(zone)) {
      throw new HacpError({
        code: ErrorCode.ZONE_INVALID,
        message: `Provider ${provider.name} has no zone ${zone}; it offers ${zones.join(', ')}. Nothing was changed.`,
        actions: [`Run \`hacp ${command} <zone>\` with one of: ${zones.join(', ')}.`],
        details: { zone },
      });
    }
    if ((this.flags as HacpFlags<typeof HacpCommand>).cluster !== undefined)
      await (await this.controlPlane()).status({ signal: this.signal });
    return provider;
  }

  protected async localProvider(command: string): Promise<LocalProvider> {
    const provider = await this.provider();
    if (!isLocalProvider(provider)) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `\`hacp ${command}\` works only with the local provider, not ${provider.name}.`,
        actions: ['Pass --provider local.'],
        details: { field: 'provider', value: provider.name },
      });
    }
    return provider;
  }

  /**
   * Where Kubernetes binaries are found and cached, from the command's environment
   * (HACP_KUBE_BIN_DIR, KUBE_APISERVER, ..., XDG_CACHE_HOME, HACP_KUBE_RELEASE_URL). Loads the SDK.
   */
  protected async kubernetesBinarySource(): Promise<KubernetesBinarySource> {
    const { kubernetesBinarySourceFromEnv } = await import('@hacp/sdk');
    return kubernetesBinarySourceFromEnv(this.io.env, { home: this.io.home });
  }

  /**
   * The backup retention in force from HACP_BACKUP_KEEP_LAST and HACP_BACKUP_KEEP_WITHIN, checked
   * (undefined: the SDK's default). Loads the SDK.
   * @throws HacpError INVALID_ARGUMENT naming the variable, before anything is touched.
   */
  protected async backupRetention(): Promise<BackupRetention | undefined> {
    const retention = readBackupRetentionVariables(this.io.env);
    if (retention === undefined) return undefined;
    const { checkBackupRetention } = await import('@hacp/sdk');
    checkBackupRetention(retention, {
      keepLast: 'HACP_BACKUP_KEEP_LAST',
      keepWithin: 'HACP_BACKUP_KEEP_WITHIN',
    });
    return retention;
  }

  /** Draws a download's progress on a terminal (nothing with `--json` or without a terminal). */
  protected showDownload(progress: DownloadProgress): void {
    this.#progress?.download(progress);
  }

  /** The cluster's control plane, created on first use (later calls ignore `extra`) and closed at the end. */
  protected async controlPlane(extra: Pick<ControlPlaneSettings, 'kubeconfig'> = {}): Promise<ControlPlane> {
    if (this.#controlPlane === undefined) {
      const backupRetention = await this.backupRetention();
      const settings: ControlPlaneSettings = {
        provider: await this.provider(),
        cluster: this.settings.cluster,
        dataDir: this.settings.dataDir,
        kubernetesBinaries: await this.kubernetesBinarySource(),
        onEvent: (event) => this.#onEvent(event),
        ...(backupRetention === undefined ? {} : { backupRetention }),
      };
      if (extra.kubeconfig !== undefined) settings.kubeconfig = extra.kubeconfig;
      this.#controlPlane = this.io.createControlPlane(settings);
    }
    return this.#controlPlane;
  }

  /** The command as the user typed it: `zone fail`. */
  protected get commandName(): string {
    return this.id === undefined ? 'hacp' : toConfiguredId(this.id, this.config);
  }

  protected override async _run<U>(): Promise<U> {
    this.io = this.runtime();
    const json = this.jsonEnabled();
    const stopListening = this.io.onInterrupt((signal) => this.#interrupt(signal, json));
    let result: R | undefined;
    try {
      await this.init();
      await this.#parseInput(json);
      this.#progress = json
        ? undefined
        : new ProgressPrinter({ write: (text) => this.io.writeStderr(text), steps: this.io.stderrIsTTY });
      result = await this.run();
      this.#succeed(result, json);
    } catch (error) {
      this.#fail(error, json);
    } finally {
      stopListening();
      await this.#close();
    }
    return result as U;
  }

  async #parseInput(json: boolean): Promise<void> {
    let parsed: { flags: unknown; args: unknown };
    try {
      // Explicit options: oclif's default spreads the class's own statics, which misses inherited ones.
      const ctor = this.ctor;
      parsed = await this.parse({
        flags: ctor.flags,
        baseFlags: ctor.baseFlags,
        enableJsonFlag: ctor.enableJsonFlag,
        args: ctor.args,
        strict: ctor.strict,
      });
    } catch (error) {
      throw parseErrorToHacpError(error, this.commandName);
    }
    this.flags = parsed.flags as HacpFlags<T>;
    this.args = parsed.args as HacpArgs<T>;
    const flags = this.flags as HacpFlags<typeof HacpCommand>;
    const env = this.io.env;
    const provider = flags.provider ?? defaultProvider(env);
    assertProviderName(provider);
    const cluster = flags.cluster ?? defaultCluster(env);
    assertClusterName(cluster);
    const stateDir = resolve(flags['state-dir'] ?? defaultStateDir(env, this.io.home));
    this.settings = { cluster, provider, stateDir, dataDir: join(stateDir, 'clusters', cluster), json };
    if (flags.project !== undefined) this.settings.project = flags.project;
  }

  /** With --json, one object per line (events before the envelope) rather than one indented envelope. */
  protected readonly jsonLines: boolean = false;

  /** Each event of the control plane as it comes, for a command that prints them (`watch`). */
  protected onControlPlaneEvent(_event: ControlPlaneEvent): void {}

  #onEvent(event: ControlPlaneEvent): void {
    this.onControlPlaneEvent(event);
    if (event.type === 'warning') {
      const warning = { code: event.code, message: event.message };
      if (this.#warnings.add(warning)) this.#shown.add(warning);
      else return;
    }
    this.#progress?.handle(event);
  }

  #showWarnings(warnings: readonly CliWarning[]): void {
    const unshown = warnings.filter((warning) => this.#shown.add(warning));
    if (unshown.length === 0) return;
    this.#progress?.finish();
    this.io.writeStderr(renderWarnings(this.#hintedWarnings(unshown)));
  }

  /** The global flags given on the command line, which every printed hint keeps. */
  #given(): GivenFlags {
    const flags = (this.flags ?? {}) as HacpFlags<typeof HacpCommand>;
    return {
      cluster: flags.cluster,
      provider: flags.provider,
      project: flags.project,
      'state-dir': flags['state-dir'],
    };
  }

  #hintedWarnings(warnings: readonly CliWarning[]): CliWarning[] {
    const given = this.#given();
    return warnings.map((warning) => ({ ...warning, message: withGivenFlags(warning.message, given) }));
  }

  /** The error with the commands it names keeping the flags the user gave. */
  #hinted(error: HacpError): HacpError {
    const given = this.#given();
    const message = withGivenFlags(error.message, given);
    const actions = error.actions.map((action) => withGivenFlags(action, given));
    if (message === error.message && actions.every((action, i) => action === error.actions[i])) return error;
    return new HacpError({ code: error.code, message, actions, details: error.details, cause: error });
  }

  #succeed(result: R, json: boolean): void {
    if (this.#exited) return;
    for (const warning of this.resultWarnings(result)) this.#warnings.add(warning);
    if (json) {
      this.io.writeStdout(
        formatEnvelope(successEnvelope(result, this.#hintedWarnings(this.#warnings.all())), {
          lines: this.jsonLines,
        }),
      );
    } else {
      this.#progress?.finish();
      this.io.writeStdout(this.renderText(result));
      this.#showWarnings(this.#warnings.all());
    }
    this.io.setExitCode(0);
  }

  #fail(thrown: unknown, json: boolean): void {
    if (this.#exited) return;
    const error = this.#hinted(this.#explain(thrown));
    this.io.setExitCode(exitCodeOf(error));
    if (json) {
      this.io.writeStdout(formatEnvelope(errorEnvelope(error), { lines: this.jsonLines }));
      return;
    }
    this.#progress?.finish();
    this.#showWarnings(this.#warnings.all());
    this.io.writeStderr(renderError(error));
  }

  /** An interrupted run is ABORTED whatever the SDK threw on its way out, and says how to continue. */
  #explain(thrown: unknown): HacpError {
    const aborted = this.#abort.signal.aborted;
    const reason: unknown = this.#abort.signal.reason;
    let error =
      aborted && !isHacpError(thrown)
        ? isHacpError(reason)
          ? reason
          : this.#abortedError('Interrupted.', thrown)
        : toHacpError(thrown);
    const next = this.continueAction;
    const resumes = (action: string) => action.includes('hacp resume');
    // `hacp resume` only where an operation was recorded (the SDK's error names it): interrupted before
    // that (a prompt, a preflight, the wait for the lock), there is nothing to resume.
    const recorded = (error.details as { operationId?: unknown } | undefined)?.operationId !== undefined;
    if (
      error.code === ErrorCode.ABORTED &&
      next !== undefined &&
      (recorded || !this.resumable) &&
      !error.actions.some((a) => a === next || (this.resumable && resumes(a)))
    ) {
      // A command that is more than one operation (a rollout) says how to go on with all of it:
      // `hacp resume` would finish only the operation under way.
      const others = this.resumable ? error.actions : error.actions.filter((a) => !resumes(a));
      error = new HacpError({
        code: error.code,
        message: error.message,
        actions: [...others, next],
        details: error.details,
        cause: error,
      });
    }
    return error;
  }

  #abortedError(message: string, cause?: unknown): HacpError {
    return new HacpError({
      code: ErrorCode.ABORTED,
      message,
      actions: [
        'Run `hacp status`: it shows an operation that was recorded and `hacp resume` continues; otherwise nothing was changed.',
      ],
      cause,
    });
  }

  #interrupt(signal: NodeJS.Signals, json: boolean): void {
    this.#interrupts += 1;
    if (this.#interrupts === 1) {
      if (!json) {
        this.#progress?.finish();
        this.io.writeStderr(
          `Interrupted (${signal}): stopping at the next safe point; interrupt again to exit at once.\n`,
        );
      }
      this.#abort.abort(this.#abortedError(`Interrupted by ${signal}.`));
      return;
    }
    const error = this.#hinted(
      this.#abortedError(
        `Interrupted twice (${signal}): exited at once, possibly half-way through a step; every step checks the real state first, so continuing is safe.`,
      ),
    );
    this.#exited = true;
    this.io.setExitCode(exitCodeOf(error));
    if (json) this.io.writeStdout(formatEnvelope(errorEnvelope(error), { lines: this.jsonLines }));
    else this.io.writeStderr(`\n${renderError(error)}`);
    this.io.exitNow(exitCodeOf(error));
  }

  async #close(): Promise<void> {
    const opening = this.#controlPlane;
    this.#controlPlane = undefined;
    if (opening === undefined) return;
    try {
      await (await opening).close();
    } catch (error) {
      this.debug('closing the control plane failed: %s', String(error));
    }
  }
}
