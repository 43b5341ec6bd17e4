/**
 * The fake Bot API's files (a patient's voice notes), at Telegram's wire
 * protocol: getFile answers a File `{file_id, file_unique_id, file_size,
 * file_path}` (400 "file is too big" past the 20 MB bots may download, 400
 * "invalid file_id" for an unknown one), and GET /file/bot<token>/<file_path>
 * gives the bytes, as application/octet-stream like Telegram's file server,
 * to a bot that asked getFile for it (404 otherwise).
 */
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import { FakeMediaStore, declaredSize, serveBytes, type FakeMediaOptions } from './fakeMediaStore.js';

/** Bots may download files of at most 20 MB. */
const MAX_BOT_DOWNLOAD = 20 * 1024 * 1024;

const FOLDERS: Record<string, string> = { 'audio/ogg': 'voice/file_{n}.oga', 'audio/mpeg': 'music/file_{n}.mp3' };

export class FakeTelegramFiles {
  readonly store = new FakeMediaStore();
  /** file_id to its file_path, and the bots that asked getFile for a path (only they may download it). */
  private readonly paths = new Map<string, string>();
  private readonly granted = new Map<string, Set<string>>();
  private counter = 0;

  add(bytes: Buffer, contentType: string, options: FakeMediaOptions = {}): { fileId: string; filePath: string } {
    const fileId = `AwACAgQAAxkBAAI${randomBytes(18).toString('base64url')}`;
    const filePath = (FOLDERS[contentType.split(';')[0]!.trim()] ?? 'documents/file_{n}').replace('{n}', String(++this.counter));
    this.store.add(bytes, contentType, options, filePath);
    this.paths.set(fileId, filePath);
    return { fileId, filePath };
  }

  /** The getFile method. */
  getFile(token: string, payload: Record<string, unknown>, res: http.ServerResponse): void {
    const fileId = String(payload.file_id ?? '');
    const path = this.paths.get(fileId);
    const file = path ? this.store.get(path) : undefined;
    if (!path || !file) return writeJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
    if (declaredSize(file) > MAX_BOT_DOWNLOAD) return writeJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: file is too big' });
    this.granted.set(path, (this.granted.get(path) ?? new Set()).add(token));
    writeJson(res, 200, { ok: true, result: { file_id: fileId, file_unique_id: `AgAD${fileId.slice(-8)}`, file_size: declaredSize(file), file_path: path } });
  }

  /** GET /file/bot<token>/<file_path>. */
  async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    this.store.record(req);
    const m = /^\/file\/bot(\d+:[A-Za-z0-9_-]+)\/(.+)$/.exec(url.pathname);
    const path = m ? decodeURIComponent(m[2]!) : '';
    const file = this.store.get(path);
    if (!m || !file || !this.granted.get(path)?.has(m[1]!)) return writeJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    await serveBytes(res, file, 'application/octet-stream');
  }
}

export function writeJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
