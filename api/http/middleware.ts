/** The fixed outer middleware: request id, access log, error envelope, security headers. */
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { UniqueViolationError, NotFoundError, ForeignKeyViolationError, CheckViolationError, DataError, ConstraintViolationError } from 'objection';
import { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

export function requestId() {
  return async (ctx: Context, next: Next) => {
    const incoming = ctx.get('X-Request-ID');
    const id = incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-ID', id);
    await next();
  };
}

export function accessLog(logger: Logger, metrics?: (ctx: Context, ms: number) => void) {
  return async (ctx: Context, next: Next) => {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      metrics?.(ctx, ms);
      // Paths carry only ids; query strings may carry phones or names, so they stay out.
      const level = ctx.status >= 500 ? 'error' : 'info';
      if (ctx.path !== '/health' && ctx.path !== '/metrics') {
        logger[level]({ request_id: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
      }
    }
  };
}

interface PgError { code?: string; constraint?: string; detail?: string }

/** Maps database errors to API errors (STYLE.md rule 4). */
export function toAppError(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  if (err instanceof NotFoundError) return new AppError('NOT_FOUND', 'Resource not found');
  const native = ((err as { nativeError?: PgError })?.nativeError ?? err) as PgError;
  const constraint = native?.constraint ?? (err as PgError)?.constraint;
  if (err instanceof UniqueViolationError || native?.code === '23505') {
    return new AppError('CONFLICT', 'A record with these values already exists', constraint ? { constraint } : null);
  }
  if (native?.code === '23P01') return new AppError('CONFLICT', 'The time slot overlaps an existing appointment', constraint ? { constraint } : null);
  if (err instanceof ForeignKeyViolationError || native?.code === '23503') return new AppError('UNPROCESSABLE_ENTITY', 'A referenced record does not exist', constraint ? { constraint } : null);
  if (err instanceof CheckViolationError || native?.code === '23514') return new AppError('VALIDATION_ERROR', 'A value is out of range', constraint ? { constraint } : null);
  if (err instanceof DataError || native?.code === '22P02' || native?.code === '22007' || native?.code === '22008') return new AppError('VALIDATION_ERROR', 'A value has the wrong format');
  // 22021: a NUL byte in text; 22P05: \u0000 in jsonb. Requests are checked for it (route.ts); this catches the rest.
  if (native?.code === '22021' || native?.code === '22P05') return new AppError('VALIDATION_ERROR', 'A value contains a character that cannot be stored (U+0000)');
  if (err instanceof ConstraintViolationError) return new AppError('CONFLICT', 'The change violates a constraint');
  const status = (err as { status?: number; expose?: boolean })?.status;
  if (status === 413) return new AppError('VALIDATION_ERROR', 'Request body too large');
  if (status === 400 || status === 415 || status === 422) return new AppError('VALIDATION_ERROR', (err as Error).message || 'Malformed request body', { fields: [{ field: 'body', message: 'could not be parsed' }] });
  return null;
}

export function errorEnvelope(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new AppError('NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
      }
      if (ctx.status === 405 && !ctx.body) throw new AppError('NOT_FOUND', `Method ${ctx.method} not allowed on ${ctx.path}`);
    } catch (err) {
      const appError = toAppError(err);
      if (!appError) {
        logger.error({ err, request_id: ctx.state.requestId }, 'unhandled error');
      }
      const e = appError ?? new AppError('INTERNAL_SERVER_ERROR', 'Something went wrong on our side; the request id helps us find it');
      ctx.status = e.status;
      ctx.body = {
        success: false,
        error: { code: e.code, message: e.message, details: e.details ?? null },
        request_id: ctx.state.requestId,
      };
    }
  };
}

export function securityHeaders() {
  return async (ctx: Context, next: Next) => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (!ctx.response.get('X-Frame-Options') && !ctx.path.startsWith('/widget')) ctx.set('X-Frame-Options', 'DENY');
  };
}
