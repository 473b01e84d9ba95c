import pino from 'pino';

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
  // Synchronous: a line written just before the process exits must not be lost.
  const destination = write ? { write } : pino.destination({ dest: 2, sync: true });
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
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}
