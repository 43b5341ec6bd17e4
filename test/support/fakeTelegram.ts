/**
 * A fake Telegram Bot API on 127.0.0.1, at its wire protocol: POST (or GET)
 * /bot<token>/<method> with a JSON or form body, answered `{"ok": true,
 * "result": ...}` or `{"ok": false, "error_code", "description",
 * "parameters"?}` like Telegram. It knows getMe, sendMessage,
 * answerCallbackQuery, setWebhook, deleteWebhook, getWebhookInfo and
 * sendVoice, sendAudio, sendDocument (the file as an HTTP URL), and
 * getUpdates with long-poll semantics (an offset confirms the updates before
 * it; with none waiting, the call waits up to `timeout` seconds for one; 409
 * while a webhook is set). It records every call, can be told to refuse
 * the sends (403 blocked, 400 chat not found, 429 with retry_after, 500),
 * keeps each sent message's markup (inline buttons, a reply keyboard, its removal),
 * and makes updates as Telegram sends them, for the webhook or for polling.
 */
import http from 'node:http';
import type { Update } from 'grammy/types';
import { FakeProviderServer } from './fakeProvider.js';
import type { FakeMediaOptions, FakeMediaRequest } from './fakeMediaStore.js';
import { FakeTelegramFiles, writeJson } from './fakeTelegramFiles.js';

export const FAKE_TELEGRAM_SECRET = 'fake-telegram-webhook-secret_0123456789';

let botCounter = 0;
/** A fresh bot token (its numeric id differs from every other one made in this run). */
export function newBotToken(): string {
  const id = 7_000_000_000 + Math.floor(Math.random() * 900_000_000) + ++botCounter;
  return `${id}:AAH${Math.random().toString(36).slice(2, 12)}fake_token-${botCounter}`;
}

export interface FakeTelegramCall {
  token: string;
  method: string;
  payload: Record<string, unknown>;
  at: Date;
}

export interface FakeSentMessage {
  token: string;
  chatId: string;
  messageId: number;
  text: string;
  /** The callback data of each inline button, row by row flattened, with its label. */
  buttons: { text: string; data: string }[];
  /** A reply keyboard (buttons below the text field), row by row flattened, with its options; null when none. */
  replyKeyboard: { buttons: { text: string; requestContact: boolean }[]; oneTime: boolean; resize: boolean } | null;
  /** The message removes the reply keyboard (reply_markup.remove_keyboard). */
  removesKeyboard: boolean;
  /** A file sent by URL (sendVoice, sendAudio, sendDocument; `text` is then its caption or ''), else null. */
  media: { kind: FakeMediaKind; url: string; caption: string | null; duration: number | null } | null;
}

type FakeMediaKind = 'voice' | 'audio' | 'document';
/** The send methods that take a file, and the parameter that carries it. */
const MEDIA_METHODS: Record<string, FakeMediaKind> = { sendVoice: 'voice', sendAudio: 'audio', sendDocument: 'document' };
type Markup = Pick<FakeSentMessage, 'buttons' | 'replyKeyboard' | 'removesKeyboard'> & { raw: unknown };

export type FakeSendFailure =
  | { kind: 'refuse'; errorCode: number; description: string; retryAfter?: number }
  | { kind: 'drop' };

interface Poller {
  token: string;
  offset: number;
  limit: number;
  res: http.ServerResponse;
  timer: NodeJS.Timeout;
}

export class FakeTelegram extends FakeProviderServer {
  readonly calls: FakeTelegramCall[] = [];
  readonly sent: FakeSentMessage[] = [];
  private readonly queues = new Map<string, Update[]>();
  private readonly webhooks = new Map<string, { url: string; secret: string | null; allowed: unknown }>();
  private readonly pollers = new Set<Poller>();
  private readonly messageIds = new Map<string, number>();
  private readonly chatFailures = new Map<string, FakeSendFailure>();
  private failures: FakeSendFailure[] = [];
  private nextUpdateId = 100_000;
  /** Patients' files (fakeTelegramFiles.ts); getFile calls are recorded as calls too. */
  readonly files = new FakeTelegramFiles();
  /** A file a patient sent (a voice note): its file_id (`telegram-file:<file_id>` inbound) and the path getFile gives. */
  readonly addMedia = (bytes: Buffer, contentType: string, options: FakeMediaOptions = {}): { fileId: string; filePath: string } => this.files.add(bytes, contentType, options);
  /** Every file download (GET /file/bot<token>/<path>). */
  get fileRequests(): FakeMediaRequest[] { return this.files.store.requests; }

  override async stop(): Promise<void> {
    for (const p of this.pollers) clearTimeout(p.timer);
    this.pollers.clear();
    await super.stop();
  }

  /** getUpdates calls waiting right now. */
  get pendingPolls(): number {
    return this.pollers.size;
  }

  callsOf(method: string, token?: string): FakeTelegramCall[] {
    return this.calls.filter((c) => c.method === method && (!token || c.token === token));
  }

  to(chatId: string | number): FakeSentMessage[] {
    return this.sent.filter((m) => m.chatId === String(chatId));
  }

  /** The next sends (sendMessage or a file) fail this way, one failure each, in order. */
  failNext(...failures: FakeSendFailure[]): this {
    this.failures.push(...failures);
    return this;
  }

  /** Every send to this chat fails this way (until reset()). */
  failChat(chatId: string | number, failure: FakeSendFailure): this {
    this.chatFailures.set(String(chatId), failure);
    return this;
  }

  reset(): this {
    this.failures = [];
    this.chatFailures.clear();
    return this;
  }

  /** Waits for `n` messages to `chatId` in total, and returns them all. */
  async waitFor(chatId: string | number, n = 1, timeoutMs = 10_000): Promise<FakeSentMessage[]> {
    await this.waitUntil(() => this.to(chatId).length >= n, timeoutMs, `${n} message(s) to chat ${chatId}`);
    return this.to(chatId);
  }

  /** Queues an update for a bot's getUpdates (long polling) and wakes a waiting poller. */
  enqueue(token: string, update: Update): void {
    const queue = this.queues.get(token) ?? [];
    queue.push(update);
    this.queues.set(token, queue);
    for (const p of [...this.pollers]) if (p.token === token) this.answerPoll(p);
  }

  /** A new update id, increasing like Telegram's. */
  updateId(): number {
    return ++this.nextUpdateId;
  }

  private pending(token: string, offset: number, limit: number): Update[] {
    const queue = (this.queues.get(token) ?? []).filter((u) => u.update_id >= offset);
    this.queues.set(token, queue);
    return queue.slice(0, limit);
  }

  private answerPoll(p: Poller): void {
    const updates = this.pending(p.token, p.offset, p.limit);
    if (updates.length === 0) return;
    clearTimeout(p.timer);
    this.pollers.delete(p);
    writeJson(p.res, 200, { ok: true, result: updates });
  }

  protected progress(): string {
    return `${this.sent.length} messages sent, ${this.calls.length} calls`;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname.startsWith('/file/')) return this.files.serve(req, res, url);
    const m = /^\/bot(\d+:[A-Za-z0-9_-]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!m) return writeJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = m as unknown as [string, string, string];
    const payload = { ...Object.fromEntries(url.searchParams), ...(await readBody(req)) };
    this.calls.push({ token, method, payload, at: new Date() });
    try {
      await this.answer(token, method, payload, req, res);
    } finally {
      this.notify();
    }
  }

  private async answer(token: string, method: string, payload: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const ok = (result: unknown) => writeJson(res, 200, { ok: true, result });
    const botId = Number(token.split(':')[0]);
    switch (method) {
      case 'getMe':
        return ok({ id: botId, is_bot: true, first_name: 'Clinic bot', username: `clinic_${botId}_bot`, can_join_groups: false, can_read_all_group_messages: false, supports_inline_queries: false });
      case 'setWebhook':
        this.webhooks.set(token, { url: String(payload.url ?? ''), secret: typeof payload.secret_token === 'string' ? payload.secret_token : null, allowed: payload.allowed_updates ?? null });
        return ok(true);
      case 'deleteWebhook':
        this.webhooks.delete(token);
        if (payload.drop_pending_updates) this.queues.delete(token);
        return ok(true);
      case 'getWebhookInfo': {
        const w = this.webhooks.get(token);
        return ok({ url: w?.url ?? '', has_custom_certificate: false, pending_update_count: (this.queues.get(token) ?? []).length });
      }
      case 'answerCallbackQuery':
        if (typeof payload.callback_query_id !== 'string') return writeJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' });
        return ok(true);
      case 'getUpdates': {
        if (this.webhooks.has(token)) {
          return writeJson(res, 409, { ok: false, error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
        }
        const offset = Number(payload.offset ?? 0);
        const limit = Math.min(100, Number(payload.limit ?? 100) || 100);
        const timeout = Number(payload.timeout ?? 0);
        const ready = this.pending(token, offset, limit);
        if (ready.length > 0 || timeout <= 0) return ok(ready);
        const poller: Poller = {
          token, offset, limit, res,
          timer: setTimeout(() => {
            this.pollers.delete(poller);
            ok([]);
          }, timeout * 1000),
        };
        this.pollers.add(poller);
        // The client gave up (grammY aborts its pending getUpdates on stop()).
        res.on('close', () => {
          clearTimeout(poller.timer);
          this.pollers.delete(poller);
        });
        req.resume();
        return;
      }
      case 'getFile':
        return this.files.getFile(token, payload, res);
      case 'sendMessage':
        return this.sendMessage(token, payload, req, res);
      case 'sendVoice': case 'sendAudio': case 'sendDocument':
        return this.sendMedia(token, MEDIA_METHODS[method]!, payload, req, res);
      default:
        return writeJson(res, 404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    }
  }

  /** Answers with the failure set for this send, if any (true: answered). */
  private failed(chatId: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const failure = this.chatFailures.get(chatId) ?? this.failures.shift();
    if (failure?.kind === 'drop') req.socket.destroy();
    if (failure?.kind === 'refuse') {
      writeJson(res, failure.errorCode, {
        ok: false, error_code: failure.errorCode, description: failure.description,
        ...(failure.retryAfter !== undefined ? { parameters: { retry_after: failure.retryAfter } } : {}),
      });
    }
    return failure !== undefined;
  }

  private sendMessage(token: string, payload: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse): void {
    const chatId = String(payload.chat_id ?? '');
    const text = typeof payload.text === 'string' ? payload.text : '';
    if (this.failed(chatId, req, res)) return;
    if (!chatId) return badRequest(res, 'chat_id is empty');
    if (!text.trim()) return badRequest(res, 'message text is empty');
    if (text.length > 4096) return badRequest(res, 'message is too long');
    const markup = markupOf(payload);
    if (!markup) return badRequest(res, 'BUTTON_DATA_INVALID');
    this.answerSent(res, { token, chatId, text, ...markup, media: null }, { text });
  }

  /** sendVoice, sendAudio or sendDocument with the file as an HTTP URL, which Telegram fetches. */
  private sendMedia(token: string, kind: FakeMediaKind, payload: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse): void {
    const chatId = String(payload.chat_id ?? '');
    const url = payload[kind];
    const caption = typeof payload.caption === 'string' ? payload.caption : null;
    if (this.failed(chatId, req, res)) return;
    if (!chatId) return badRequest(res, 'chat_id is empty');
    if (typeof url !== 'string' || !/^https?:\/\/[^/]/.test(url)) return badRequest(res, 'wrong HTTP URL specified');
    if (caption !== null && caption.length > 1024) return badRequest(res, 'message caption is too long');
    const markup = markupOf(payload);
    if (!markup) return badRequest(res, 'BUTTON_DATA_INVALID');
    const duration = typeof payload.duration === 'number' ? payload.duration : null;
    const file = { file_id: `fake_${kind}_${Date.now()}`, file_unique_id: `u${Date.now()}`, ...(duration !== null ? { duration } : {}) };
    this.answerSent(res, { token, chatId, text: caption ?? '', ...markup, media: { kind, url, caption, duration } }, { [kind]: file, ...(caption ? { caption } : {}) });
  }

  /** Records a sent message and answers with it as Telegram does (a Message with its new id). */
  private answerSent(res: http.ServerResponse, sent: Omit<FakeSentMessage, 'messageId'> & { raw: unknown }, content: Record<string, unknown>): void {
    const { raw, ...message } = sent;
    const messageId = (this.messageIds.get(sent.chatId) ?? 0) + 1;
    this.messageIds.set(sent.chatId, messageId);
    this.sent.push({ ...message, messageId });
    const botId = Number(sent.token.split(':')[0]);
    writeJson(res, 200, {
      ok: true,
      result: {
        message_id: messageId, date: Math.floor(Date.now() / 1000), ...content,
        from: { id: botId, is_bot: true, first_name: 'Clinic bot', username: `clinic_${botId}_bot` },
        chat: { id: Number(sent.chatId), type: 'private', first_name: 'Patient' },
        ...(raw ? { reply_markup: raw } : {}),
      },
    });
  }

  /** The webhook registered for a bot (setWebhook), if any. */
  webhookOf(token: string): { url: string; secret: string | null; allowed: unknown } | undefined {
    return this.webhooks.get(token);
  }
}

/** A send's reply_markup (JSON or a form's JSON string) as recorded; null when a button's callback_data is invalid. */
function markupOf(payload: Record<string, unknown>): Markup | null {
  const raw = typeof payload.reply_markup === 'string' ? JSON.parse(payload.reply_markup) : payload.reply_markup;
  const rows = (raw as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? [];
  const buttons = rows.flat().map((b) => ({ text: b.text, data: b.callback_data }));
  if (buttons.some((b) => Buffer.byteLength(b.data ?? '', 'utf8') > 64 || !b.data)) return null;
  const keyboard = (raw as { keyboard?: { text: string; request_contact?: boolean }[][]; one_time_keyboard?: boolean; resize_keyboard?: boolean } | undefined);
  const replyKeyboard = keyboard?.keyboard ? {
    buttons: keyboard.keyboard.flat().map((b) => ({ text: b.text, requestContact: b.request_contact === true })),
    oneTime: keyboard.one_time_keyboard === true, resize: keyboard.resize_keyboard === true,
  } : null;
  return { buttons, replyKeyboard, removesKeyboard: (raw as { remove_keyboard?: boolean } | undefined)?.remove_keyboard === true, raw };
}

const badRequest = (res: http.ServerResponse, what: string) => writeJson(res, 400, { ok: false, error_code: 400, description: `Bad Request: ${what}` });

async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return {};
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/json')) return JSON.parse(raw) as Record<string, unknown>;
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  throw new Error(`the fake Bot API takes JSON or form bodies, not ${type}`);
}

/** A person writing to the bot in a private chat (chat id = user id, as in Telegram). */
export interface TelegramUser {
  id: number;
  first_name: string;
  last_name?: string;
  language_code?: string;
}

let userCounter = 0;
/** A new person (an English app unless `language_code` says otherwise: the bot answers a new chat in it). */
export function newTelegramUser(extra: Partial<TelegramUser> = {}): TelegramUser {
  return { id: 500_000_000 + Math.floor(Math.random() * 400_000_000) + ++userCounter, first_name: 'Marta', last_name: 'Vidal', language_code: 'en', ...extra };
}

const messageCounters = new Map<number, number>();
const nextMessageId = (chatId: number) => {
  const n = (messageCounters.get(chatId) ?? 1000) + 1;
  messageCounters.set(chatId, n);
  return n;
};

const privateChat = (u: TelegramUser) => ({ id: u.id, type: 'private' as const, first_name: u.first_name, ...(u.last_name ? { last_name: u.last_name } : {}) });
const fromUser = (u: TelegramUser) => ({ id: u.id, is_bot: false, first_name: u.first_name, ...(u.last_name ? { last_name: u.last_name } : {}), ...(u.language_code ? { language_code: u.language_code } : {}) });

/** A text message update (`/start` is a text starting with the bot_command entity, as Telegram sends it). */
export function textUpdate(fake: FakeTelegram, user: TelegramUser, text: string): Update {
  return {
    update_id: fake.updateId(),
    message: {
      message_id: nextMessageId(user.id), date: Math.floor(Date.now() / 1000), chat: privateChat(user), from: fromUser(user), text,
      ...(text.startsWith('/') ? { entities: [{ type: 'bot_command' as const, offset: 0, length: text.split(' ')[0]!.length }] } : {}),
    },
  } as Update;
}

/** A button tap on a message the bot sent: a callback query carrying the button's data. */
export function callbackUpdate(fake: FakeTelegram, user: TelegramUser, on: FakeSentMessage, data: string): Update {
  return {
    update_id: fake.updateId(),
    callback_query: {
      id: `${user.id}${fake.updateId()}`, from: fromUser(user), chat_instance: String(user.id * 7), data,
      message: { message_id: on.messageId, date: Math.floor(Date.now() / 1000), chat: privateChat(user), text: on.text },
    },
  } as Update;
}

/** The user's own contact, shared with Telegram's "share my phone number" button. */
export function contactUpdate(fake: FakeTelegram, user: TelegramUser, phoneNumber: string): Update {
  return {
    update_id: fake.updateId(),
    message: {
      message_id: nextMessageId(user.id), date: Math.floor(Date.now() / 1000), chat: privateChat(user), from: fromUser(user),
      contact: { phone_number: phoneNumber, first_name: user.first_name, user_id: user.id },
    },
  } as Update;
}

/** A sticker: a message without text. */
export function stickerUpdate(fake: FakeTelegram, user: TelegramUser): Update {
  return {
    update_id: fake.updateId(),
    message: {
      message_id: nextMessageId(user.id), date: Math.floor(Date.now() / 1000), chat: privateChat(user), from: fromUser(user),
      sticker: { file_id: `CAACAgIAAx${user.id}`, file_unique_id: `AgAD${user.id}`, type: 'regular', width: 512, height: 512, is_animated: false, is_video: false },
    },
  } as Update;
}

/** POSTs an update to the service's webhook as Telegram does (JSON, the secret token header). */
export async function postUpdate(serviceUrl: string, update: Update, secret: string | null = FAKE_TELEGRAM_SECRET): Promise<{ status: number; text: string }> {
  const res = await fetch(`${serviceUrl}/api/v1/channels/telegram/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret !== null ? { 'x-telegram-bot-api-secret-token': secret } : {}) },
    body: JSON.stringify(update),
  });
  return { status: res.status, text: await res.text() };
}
