/**
 * multipart/form-data for the one kind of route that takes a file (POST
 * /messages/voice): parsed only there, after the caller is authorized, with
 * one file of bounded size held in memory. The global body parser leaves
 * multipart alone, so no other route accepts uploads, and an upload never
 * reaches the disk: a patient's voice message is health data, stored only
 * sealed (models/mediaFiles.ts).
 */
import { Writable } from 'node:stream';
import type { Context, Next } from 'koa';
import { koaBody } from 'koa-body';
import { validationError } from '../../lib/errors.js';

export interface UploadSpec {
  /** The form field that carries the file. */
  field: string;
  maxBytes: number;
  /** What the file is, for the OpenAPI document. */
  description: string;
}

export interface UploadedFile {
  fileName: string | null;
  /** The type the client declared (not trusted: the content decides). */
  declaredType: string | null;
  bytes: Buffer;
}

interface FormidableFile { originalFilename?: string | null; mimetype?: string | null }

const megabytes = (n: number) => `${Math.round((n / 1_048_576) * 10) / 10} MB`;

/** Middleware: parses the multipart body into ctx.request.body (fields) and ctx.state.upload (the file, if any). */
export function multipartUpload(spec: UploadSpec): (ctx: Context, next: Next) => Promise<void> {
  return async (ctx, next) => {
    if (!ctx.is('multipart/form-data')) {
      throw validationError(`${spec.field}: expected a multipart/form-data body with the file in ${spec.field}`, [{ field: spec.field, message: 'expected a multipart/form-data body carrying the file' }]);
    }
    const chunks = new Map<FormidableFile, Buffer[]>();
    const parse = koaBody({
      multipart: true,
      urlencoded: false,
      json: false,
      text: false,
      formidable: {
        maxFileSize: spec.maxBytes,
        maxFields: 20,
        maxFieldsSize: 64 * 1024,
        allowEmptyFiles: true,
        minFileSize: 0,
        // In memory, never in a temporary file.
        fileWriteStreamHandler: ((file: FormidableFile) => {
          const parts: Buffer[] = [];
          chunks.set(file, parts);
          return new Writable({ write(chunk: Buffer, _enc, done) { parts.push(chunk); done(); } });
        }) as never,
      },
      onError: (err) => {
        const tooBig = (err as { httpCode?: number }).httpCode === 413;
        const message = tooBig ? `must be at most ${megabytes(spec.maxBytes)}` : 'the multipart body could not be read';
        throw validationError(`${spec.field}: ${message}`, [{ field: spec.field, message }]);
      },
    }) as unknown as (ctx: Context, next: Next) => Promise<void>; // koa-body brings its own copy of Koa's types
    await parse(ctx, async () => {
      const files = (ctx.request as unknown as { files?: Record<string, FormidableFile | FormidableFile[]> }).files ?? {};
      const others = Object.keys(files).filter((name) => name !== spec.field);
      if (others.length > 0) throw validationError(`${others[0]}: unexpected file`, others.map((field) => ({ field, message: `unexpected file: send the file in ${spec.field}` })));
      const given = files[spec.field];
      if (Array.isArray(given) && given.length > 1) throw validationError(`${spec.field}: send one file`, [{ field: spec.field, message: 'send one file' }]);
      const file = Array.isArray(given) ? given[0] : given;
      if (file) {
        const upload: UploadedFile = { fileName: file.originalFilename ?? null, declaredType: file.mimetype ?? null, bytes: Buffer.concat(chunks.get(file) ?? []) };
        ctx.state.upload = upload;
      }
      await next();
    });
  };
}
