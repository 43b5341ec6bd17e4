/**
 * The media files a fake provider holds for inbound messages (voice notes),
 * and how it serves their bytes: with Content-Length, or chunked without one
 * (as a file server streaming a file may), optionally after a delay (a
 * timeout test). Every request for a file is recorded with its
 * Authorization header, so a test can tell what reached the provider.
 */
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FakeMediaOptions {
  /** The size the provider's metadata claims (WhatsApp file_size, Telegram file_size); default: the real size. */
  declaredSize?: number;
  /** Serve the bytes chunked, without Content-Length (the client can only stop reading when too many arrive). */
  chunked?: boolean;
  /** Wait this long before answering the bytes. */
  delayMs?: number;
}

export interface FakeMediaFile {
  key: string;
  bytes: Buffer;
  contentType: string;
  options: FakeMediaOptions;
  /** How many times all its bytes went out (a client that hung up early does not count). */
  servedWhole: number;
}

export interface FakeMediaRequest {
  method: string;
  /** Path and query, as requested. */
  path: string;
  authorization: string | null;
  at: Date;
}

export class FakeMediaStore {
  readonly requests: FakeMediaRequest[] = [];
  private readonly files = new Map<string, FakeMediaFile>();

  add(bytes: Buffer, contentType: string, options: FakeMediaOptions = {}, key = randomBytes(12).toString('hex')): FakeMediaFile {
    const file = { key, bytes, contentType, options, servedWhole: 0 };
    this.files.set(key, file);
    return file;
  }

  get(key: string): FakeMediaFile | undefined {
    return this.files.get(key);
  }

  /** Records a request for a file (or for its metadata). */
  record(req: http.IncomingMessage): void {
    this.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization ?? null, at: new Date() });
  }
}

export const declaredSize = (file: FakeMediaFile) => file.options.declaredSize ?? file.bytes.length;

/** Answers `file`'s bytes as a file server does, as `contentType` (default the file's own). */
export async function serveBytes(res: http.ServerResponse, file: FakeMediaFile, contentType = file.contentType): Promise<void> {
  if (file.options.delayMs) await sleep(file.options.delayMs);
  if (res.destroyed) return;
  if (!file.options.chunked) {
    res.writeHead(200, { 'content-type': contentType, 'content-length': String(file.bytes.length) });
    res.end(file.bytes, () => { file.servedWhole++; });
    return;
  }
  res.writeHead(200, { 'content-type': contentType });
  for (let at = 0; at < file.bytes.length && !res.destroyed; at += 16 * 1024) {
    res.write(file.bytes.subarray(at, at + 16 * 1024));
    // Let the client read (and perhaps hang up) between chunks.
    await sleep(1);
  }
  if (!res.destroyed) res.end(() => { file.servedWhole++; });
}
