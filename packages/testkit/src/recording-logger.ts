import type { LogFields, Logger } from '@hacp/core';

/** One recorded log line. */
export interface LogRecord {
  level: keyof Logger;
  message: string;
  fields?: LogFields;
}

/** A logger that keeps every line, for tests that check what was (and was not) logged. */
export interface RecordingLogger extends Logger {
  readonly records: readonly LogRecord[];
  /** Every line, message and fields, as one string. */
  text(): string;
}

export function createRecordingLogger(): RecordingLogger {
  const records: LogRecord[] = [];
  const add = (level: keyof Logger) => (message: string, fields?: LogFields) => {
    records.push(fields === undefined ? { level, message } : { level, message, fields });
  };
  return {
    records,
    debug: add('debug'),
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    text: () =>
      records
        .map((r) => `${r.level} ${r.message} ${r.fields === undefined ? '' : JSON.stringify(r.fields)}`)
        .join('\n'),
  };
}
