/**
 * One declaration per endpoint: method, path, permission, request schemas,
 * response schema and handler. The same declaration validates the request,
 * shapes the envelope and feeds the OpenAPI document.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { validationError, type FieldError } from '../../lib/errors.js';
import { unstorableReason, withoutUnstorable } from '../../lib/storableText.js';
import { authorize, type Permission, type Principal } from '../policies.js';
import { registerForOpenApi } from './openapi.js';
import type { AppDeps } from '../deps.js';
import type { RateLimitName } from './rateLimit.js';
import { multipartUpload, type UploadedFile, type UploadSpec } from './multipart.js';

export interface Pagination { page: number; limit: number; total: number; total_pages: number }

export interface HandlerResult<T = unknown> {
  data: T;
  message?: string;
  pagination?: Pagination;
  status?: number;
}

export interface RouteInput<P, Q, B> {
  ctx: Context;
  deps: AppDeps;
  params: P;
  query: Q;
  body: B;
  /** The authenticated principal (throws 401 when the route is public). */
  principal: Principal;
  orgId: string;
  /** The file of a route that takes one (RouteSpec.upload), when the request carried it. */
  upload?: UploadedFile;
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** Path relative to the router's prefix, Koa style (`/patients/:id`). */
  path: string;
  fullPath: string;
  operationId: string;
  summary: string;
  tag: string;
  auth?: 'required' | 'none';
  permission?: Permission | Permission[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  bodyType?: 'json' | 'form' | 'multipart';
  /** The route takes a file (multipart/form-data): `body` describes the other fields. */
  upload?: UploadSpec;
  /** Alternative input names (alias -> canonical), accepted in body and query. */
  aliases?: Record<string, string>;
  response: z.ZodType;
  status?: number;
  list?: boolean;
  /** The handler writes ctx.body itself (text, streams); `response` describes it. */
  raw?: boolean;
  contentType?: string;
  /**
   * A raw handler that answers in several media types: media type -> schema
   * of the body (file formats: `fileBody()`). Documented instead of
   * `response` / `contentType`.
   */
  contents?: Record<string, z.ZodType>;
  /** The answer is a file download (documents the Content-Disposition header). */
  download?: boolean;
  errors?: number[];
  rateLimit?: RateLimitName;
  handler: (input: RouteInput<P, Q, B>) => Promise<HandlerResult | void>;
}

type RouteDeclaration<P, Q, B> = Omit<RouteSpec<P, Q, B>, 'fullPath'>;

/** Declares an endpoint; `mountRoutes` attaches it to a router. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteDeclaration<P, Q, B>,
): RouteDeclaration<P, Q, B> {
  return spec;
}

export function fieldErrors(error: z.ZodError, where: string): FieldError[] {
  return error.issues.map((issue) => fieldError(issue.path.map(String), issue.message, where));
}

/** One field's error: named by its dotted path (else by where it came from), with `in` outside the body. */
function fieldError(path: readonly string[], message: string, where: string): FieldError {
  return { field: path.join('.') || where, message, ...(where === 'body' ? {} : { in: where }) };
}

function renameAliases(input: unknown, aliases: Record<string, string> | undefined): unknown {
  if (!aliases || !input || typeof input !== 'object' || Array.isArray(input)) return input;
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [alias, canonical] of Object.entries(aliases)) {
    if (alias in out) {
      if (!(canonical in out)) out[canonical] = out[alias];
      delete out[alias];
    }
  }
  return out;
}

/** The first place (dotted path) in a request value where a string or key holds what cannot be stored, and why. */
function unstorableAt(value: unknown, path: string[] = []): { path: string[]; message: string } | null {
  if (typeof value === 'string') {
    const message = unstorableReason(value);
    return message ? { path, message } : null;
  }
  if (!value || typeof value !== 'object') return null;
  for (const [key, inner] of Object.entries(value)) {
    const message = unstorableReason(key);
    if (message) return { path: [...path, withoutUnstorable(key)], message };
    const found = unstorableAt(inner, [...path, key]);
    if (found) return found;
  }
  return null;
}

function parseOrThrow<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  // Checked with or without a schema: a handler may still read the raw value.
  const unstorable = unstorableAt(value);
  if (unstorable) {
    const field = fieldError(unstorable.path, unstorable.message, where);
    throw validationError(`Validation failed: ${field.field}: ${field.message}`, [field]);
  }
  if (!schema) return undefined as T;
  const result = schema.safeParse(value);
  if (!result.success) {
    const fields = fieldErrors(result.error, where);
    throw validationError(`Validation failed: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, fields);
  }
  return result.data;
}

export type MountableRoute = RouteDeclaration<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Attaches declared routes to a router under `prefix`, registering each for OpenAPI. */
export function mountRoutes(router: Router, prefix: string, routes: MountableRoute[], deps: AppDeps): void {
  for (const decl of routes) {
    const spec: RouteSpec = { ...decl, fullPath: prefix + decl.path };
    registerForOpenApi(spec);
    const middleware = [];
    if (spec.rateLimit) middleware.push(deps.rateLimits.middleware(spec.rateLimit));
    const authorizeRequest = (ctx: Context) => {
      const principal = ctx.state.principal as Principal | undefined;
      if (spec.auth !== 'none') {
        if (!principal) throw deps.unauthorized(ctx);
        if (spec.permission) authorize(principal, ...[spec.permission].flat());
      }
      return principal;
    };
    // A file is read only from a caller allowed to send it.
    if (spec.upload) {
      const parse = multipartUpload(spec.upload);
      middleware.push((ctx: Context, next: () => Promise<unknown>) => { authorizeRequest(ctx); return parse(ctx, next as () => Promise<void>); });
    }
    router[spec.method](spec.fullPath, ...middleware, async (ctx: Context) => {
      const principal = authorizeRequest(ctx);
      const params = parseOrThrow(spec.params, ctx.params, 'path');
      const query = parseOrThrow(spec.query, renameAliases(ctx.query, spec.aliases), 'query');
      const rawBody = requestBodyOf(ctx) ?? (spec.body ? {} : undefined);
      const body = parseOrThrow(spec.body, renameAliases(rawBody, spec.aliases), 'body');
      const result = await spec.handler({
        ctx, deps, params, query, body,
        principal: principal as Principal,
        orgId: principal?.organizationId as string,
        upload: ctx.state.upload as UploadedFile | undefined,
      });
      if (spec.raw || !result) return;
      ctx.status = result.status ?? spec.status ?? 200;
      ctx.body = {
        success: true,
        data: result.data,
        ...(result.message ? { message: result.message } : {}),
        ...(result.pagination ? { pagination: result.pagination } : {}),
      };
    });
  }
}

// ---- shared request schema pieces ----

export const paginationQuery = {
  page: z.coerce.number().int().min(1).default(1).describe('Page number, from 1'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Items per page (max 100)'),
  sort: z.string().regex(/^[a-z_]+(:(asc|desc))?$/, 'expected field:asc or field:desc').optional().describe('field:asc|desc'),
};

export function paginate(page: number, limit: number, total: number): Pagination {
  return { page, limit, total, total_pages: Math.ceil(total / limit) };
}

/** Parses `sort=field:dir` against the fields a list allows. */
export function parseSort(sort: string | undefined, allowed: readonly string[], fallback: [string, 'asc' | 'desc']): [string, 'asc' | 'desc'] {
  if (!sort) return fallback;
  const [field, dir = 'asc'] = sort.split(':');
  if (!allowed.includes(field)) {
    throw validationError(`sort: unknown field "${field}"`, [{ field: 'sort', message: `must be one of ${allowed.join(', ')}` }]);
  }
  return [field, dir as 'asc' | 'desc'];
}

export const idParam = (prefix: string) =>
  z.object({ id: z.string().min(1).max(64).describe(`A ${prefix}_ id`) });

/** The body of a non-JSON file (CSV, PDF, NDJSON) in `contents`: a string, binary unless it is text. */
export const fileBody = (description: string, binary = false) =>
  (binary ? z.string().meta({ format: 'binary' }) : z.string()).describe(description);

export const isoDateTime = z.iso.datetime({ offset: true });
export const isoDate = z.iso.date();

/** The parsed body koa-body left on the request. */
export function requestBodyOf(ctx: Context): unknown {
  return (ctx.request as unknown as { body?: unknown }).body;
}
