/** Domain and API errors with stable codes (the VAANI table in shared/API.md). */
export type ErrorCode =
  | 'VALIDATION_ERROR' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT'
  | 'UNPROCESSABLE_ENTITY' | 'RATE_LIMIT_EXCEEDED' | 'INTERNAL_SERVER_ERROR' | 'SERVICE_UNAVAILABLE';

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409,
  UNPROCESSABLE_ENTITY: 422, RATE_LIMIT_EXCEEDED: 429, INTERNAL_SERVER_ERROR: 500, SERVICE_UNAVAILABLE: 503,
};

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> | unknown[] | null = null,
  ) {
    super(message);
  }
  get status(): number {
    return STATUS_BY_CODE[this.code];
  }
}

export interface FieldError { field: string; message: string }

export const validationError = (message: string, fields: FieldError[]) =>
  new AppError('VALIDATION_ERROR', message, { fields });
export const fieldError = (field: string, message: string) =>
  validationError(`${field}: ${message}`, [{ field, message }]);
export const unauthorized = (message = 'Authentication required') => new AppError('UNAUTHORIZED', message);
export const forbidden = (message: string, details: Record<string, unknown> | null = null) =>
  new AppError('FORBIDDEN', message, details);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, details: Record<string, unknown> | null = null) =>
  new AppError('CONFLICT', message, details);
export const unprocessable = (message: string, details: Record<string, unknown> | null = null) =>
  new AppError('UNPROCESSABLE_ENTITY', message, details);
export const unavailable = (message: string) => new AppError('SERVICE_UNAVAILABLE', message);
