/**
 * Structured JSON logs. Patient data (phones, message text, names, notes) is
 * redacted by key at every level; log it only at debug, and only on purpose.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'phone', 'phone_number', 'text', 'content', 'body', 'notes', 'name', 'first_name', 'last_name', 'email',
  'password', 'token', 'authorization', 'req.headers.authorization', 'refresh_token', 'access_token',
  '*.name', '*.phone', '*.phone_number', '*.text', '*.content', '*.body', '*.notes', '*.password', '*.token', '*.email',
];

/**
 * Errors keep their type, code, message and stack only: a database error's
 * `detail` ("Key (phone)=(+34…) already exists"), `where` and bound
 * parameters can quote patient data.
 */
function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; status?: unknown };
  return { type: e.constructor?.name ?? 'Error', message: e.message, code: e.code, status: e.status, stack: e.stack };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'carechat' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: { err: serializeError },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
