import { describe, expect, it } from 'vitest';
import { type LogFields, type Logger, noopLogger, redactingLogger, resolveLogger } from './logger.js';
import { Secret } from './redact.js';

type Level = keyof Logger;

interface LogLine {
  level: Level;
  message: string;
  fields: LogFields | undefined;
}

function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const record = (level: Level) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields });
  };
  return {
    lines,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
}

describe('redactingLogger', () => {
  it('passes the redacted message and fields to the inner logger at the same level', () => {
    const inner = recordingLogger();
    const logger = redactingLogger(inner);
    const fields = { path: 'pki/etcd/peer.key', key: 'PEM', auth: new Secret('t0k3n') };

    logger.warn('login with password=hunter2', fields);

    expect(inner.lines).toEqual([
      {
        level: 'warn',
        message: 'login with password=[redacted]',
        fields: { path: 'pki/etcd/peer.key', key: '[redacted]', auth: '[redacted]' },
      },
    ]);
    expect(fields.key).toBe('PEM');
  });

  it.each(['debug', 'info', 'warn', 'error'] as const)('forwards %s to the same level', (level) => {
    const inner = recordingLogger();

    redactingLogger(inner)[level]('header Bearer abc.def');

    expect(inner.lines).toEqual([{ level, message: 'header Bearer [redacted]', fields: undefined }]);
  });
});

describe('resolveLogger', () => {
  it('is the no-op logger when none is given, and it does not throw', () => {
    const logger = resolveLogger(undefined);

    expect(logger).toBe(noopLogger);
    expect(() => {
      logger.debug('d');
      logger.info('i', { token: 'x' });
      logger.warn('w');
      logger.error('e', { error: new Error('boom') });
    }).not.toThrow();
  });

  it('wraps a given logger so that secrets do not reach it', () => {
    const inner = recordingLogger();

    resolveLogger(inner).info('ready', { token: 'abc', replicas: 3 });

    expect(inner.lines).toEqual([
      { level: 'info', message: 'ready', fields: { token: '[redacted]', replicas: 3 } },
    ]);
  });
});
