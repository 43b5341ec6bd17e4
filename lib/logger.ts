/**
 * Structured JSON logs. Patient data (phones, message text, names, notes) is
 * redacted by key at every level; log it only at debug, and only on purpose.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'phone', 'phone_number', 'text', 'content', 'body', 'notes', 'name', 'first_name', 'last_name', 'email',
  'password', 'token', 'authorization', 'req.headers.authorization', 'refresh_token', 'access_token',
  '*.phone', '*.phone_number', '*.text', '*.content', '*.body', '*.notes', '*.password', '*.token', '*.email',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'carechat' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
