/**
 * GET /media/:org/:id/:file: a voice message's audio, by its capability URL
 * (`file` is `<token>.<format>`, models/mediaFiles.ts). No login: the provider
 * that sends the message (Twilio, WhatsApp, Telegram) and the web chat
 * visitor's browser fetch it with the token alone. Byte ranges are answered,
 * as browsers (Safari first) ask for them to play audio.
 */
import { z } from 'zod';
import type { Context } from 'koa';
import { fileBody, route } from '../http/route.js';
import { readServedMediaFile } from '../../models/mediaFiles.js';
import { notFound } from '../../lib/errors.js';

const FILE = /^([A-Za-z0-9_-]{43})\.(mp3|ogg|wav)$/;

/** The one byte range asked for (`bytes=a-b`, `bytes=a-`, `bytes=-n`), or null for the whole file; 'invalid' when it cannot be served. */
function rangeOf(header: string | undefined, size: number): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: the whole file, as RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return null;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return 'invalid';
  return { start, end };
}

function sendBytes(ctx: Context, bytes: Buffer): void {
  const range = rangeOf(ctx.get('Range') || undefined, bytes.length);
  ctx.set('Accept-Ranges', 'bytes');
  if (range === 'invalid') {
    ctx.status = 416;
    ctx.set('Content-Range', `bytes */${bytes.length}`);
    ctx.body = '';
    return;
  }
  if (range) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${bytes.length}`);
    ctx.body = bytes.subarray(range.start, range.end + 1);
    return;
  }
  ctx.body = bytes;
}

export const mediaRoutes = [
  route({
    method: 'get', path: '/media/:org/:id/:file', operationId: 'getMediaFile', summary: "A voice message's audio file, by the URL the message carries (no login: the token in the URL is the authority)", tag: 'messages',
    auth: 'none', raw: true, errors: [404],
    params: z.object({ org: z.string().min(1).max(64), id: z.string().min(1).max(64), file: z.string().min(1).max(80).describe('<token>.<mp3|ogg|wav>') }),
    response: z.string(),
    contents: { 'audio/mpeg': fileBody('MP3', true), 'audio/ogg': fileBody('OGG', true), 'audio/wav': fileBody('WAV', true) },
    handler: async ({ ctx, deps, params }) => {
      const parts = FILE.exec(params.file);
      const file = parts ? await readServedMediaFile(deps.db.knex, { organizationId: params.org }, params.id, parts[1]!) : null;
      if (!file || file.format !== parts![2]) throw notFound('Media file');
      ctx.type = file.mimeType;
      ctx.set('Cache-Control', 'private, max-age=3600');
      ctx.set('Content-Disposition', `inline; filename="voice-message.${file.format}"`);
      sendBytes(ctx, file.bytes);
    },
  }),
];
