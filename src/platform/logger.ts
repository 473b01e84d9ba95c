import pino from 'pino';
import { LineBuffer, stderrLines } from './log-buffer.js';

/**
 * Structured JSON logs (pino), one line per event. Credentials never reach a log line: the fields that
 * could carry one are redacted wherever they appear.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'password',
  '*.password',
];

/** `fields` go on every line (a worker's `worker: <slot>`, so that logs say which process wrote them). */
export function createLogger(
  minimum: Level = 'info',
  write?: (line: string) => void,
  fields: Record<string, unknown> | null = null,
): Logger {
  // stderr lines are buffered (a system call per line was a visible share of a request's CPU) and flushed
  // synchronously on every way out (log-buffer.ts), so a line written just before the process exits is kept.
  const destination: { write(line: string): unknown } = write ? { write } : stderrLines();
  const buffered = destination instanceof LineBuffer ? destination : null;
  const log = pino(
    {
      level: minimum,
      base: fields,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { error: pino.stdSerializers.err },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    // Warnings and errors are written at once: they are rare, and they are the lines a crash must not take.
    warn: (message, fields) => {
      log.warn(fields ?? {}, message);
      buffered?.flush();
    },
    error: (message, fields) => {
      log.error(fields ?? {}, message);
      buffered?.flush();
    },
  };
}
