/**
 * An inbound Telegram file (a voice note) by its file_id, as the Bot API
 * serves it: getFile answers its file_path (and file_size; bots may download
 * at most 20 MB), and the bytes are at <api root>/file/bot<token>/<file_path>.
 * The token is in that URL, so it is never logged nor put in an error.
 */
import { GrammyError, type Bot } from 'grammy';
import type { File } from 'grammy/types';
import { MediaFetchError } from '../types.js';
import { asMediaError, downloadMedia, mediaRef, pickContentType, statusError, tooLarge, type DownloadOptions } from '../mediaDownload.js';

export const TELEGRAM_FILE_SCHEME = 'telegram-file:';
export const TELEGRAM_DEFAULT_API_ROOT = 'https://api.telegram.org';

const PROVIDER = 'Telegram';

export interface TelegramFileSource {
  bot: Bot;
  token: string;
  /** The Bot API root the bot is configured with (TELEGRAM_API_ROOT), without a trailing slash. */
  apiRoot: string;
}

export async function fetchTelegramFile(
  source: TelegramFileSource,
  media: { url: string; contentType: string },
  limits: { maxBytes: number; timeoutMs: number },
): Promise<{ bytes: Buffer; contentType: string }> {
  const fileId = mediaRef(media.url, TELEGRAM_FILE_SCHEME, PROVIDER);
  const opts: DownloadOptions = { provider: PROVIDER, ...limits, signal: AbortSignal.timeout(limits.timeoutMs) };
  const file = await getFile(source.bot, fileId, opts);
  if (!file.file_path) throw new MediaFetchError(`${PROVIDER} gave no file_path for the file`, 'refused');
  // getFile tells the size: a voice note too long to transcribe is never downloaded.
  if (file.file_size !== undefined && file.file_size > limits.maxBytes) throw tooLarge(PROVIDER, file.file_size, limits.maxBytes);
  const path = file.file_path.split('/').map(encodeURIComponent).join('/');
  const got = await downloadMedia(`${source.apiRoot}/file/bot${source.token}/${path}`, opts);
  // Telegram's file server mostly answers application/octet-stream: the update's type (voice: audio/ogg) says more.
  return { bytes: got.bytes, contentType: pickContentType([got.contentType], media.contentType) };
}

/** getFile under our deadline; "file is too big" (over 20 MB) is too large, other 4xx refusals, 5xx and no answer unreachable. */
async function getFile(bot: Bot, fileId: string, opts: DownloadOptions): Promise<File> {
  try {
    // grammY types its signal as the abort-controller package's; Node's global one is what it uses at run time.
    return await bot.api.getFile(fileId, opts.signal as Parameters<Bot['api']['getFile']>[1]);
  } catch (err) {
    if (!(err instanceof GrammyError)) throw asMediaError(opts.signal.aborted ? opts.signal.reason : err, opts);
    if (/file is too big/i.test(err.description)) throw tooLarge(PROVIDER, null, opts.maxBytes);
    throw statusError(PROVIDER, err.error_code, err.description);
  }
}
