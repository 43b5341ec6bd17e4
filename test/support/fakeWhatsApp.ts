/**
 * A fake WhatsApp Cloud API (Meta Graph API) on 127.0.0.1, at its wire
 * protocol: JSON POSTs to /v21.0/{phone_number_id}/messages with a Bearer
 * token, answered like Graph (200, `{messaging_product, contacts, messages:
 * [{id: "wamid…"}]}`; text, interactive, template, and audio or document
 * messages by link) or with a Graph error body (`{error: {message, type,
 * code, error_subcode, fbtrace_id}}`). It records every accepted message and
 * can be told to refuse, to answer 500 or to drop connections. It also
 * serves inbound media (addMedia) as the Cloud API does: GET /v21.0/{media id}
 * answers `{url, mime_type, sha256, file_size, id, messaging_product}`, the
 * url (a lookaside-like path of the fake) gives the bytes; both need the
 * Bearer token (401, code 190 without it). Plus helpers
 * that post notifications to the service signed as Meta signs them
 * (X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>).
 */
import http from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { FakeProviderServer } from './fakeProvider.js';
import { FakeMediaStore, declaredSize, serveBytes, type FakeMediaOptions, type FakeMediaRequest } from './fakeMediaStore.js';

export const FAKE_WA_TOKEN = 'EAAfake-whatsapp-access-token';
export const FAKE_WA_PHONE_NUMBER_ID = '106540352242922';
export const FAKE_WA_APP_SECRET = 'fake-meta-app-secret-0123456789';
export const FAKE_WA_VERIFY_TOKEN = 'fake-verify-token';
export const WA_WEBHOOK = '/api/v1/channels/whatsapp/cloud';

export interface FakeWaMessage {
  id: string;
  phoneNumberId: string;
  /** The recipient as sent: digits only. */
  to: string;
  type: string;
  /** The text body, the interactive body's text, a template's first body parameter, or a document's caption. */
  text: string;
  /** A template message's name and language code, else null. */
  template: { name: string; language: string } | null;
  interactive: {
    type: 'button' | 'list';
    body: { text: string };
    action: { buttons?: { type: string; reply: { id: string; title: string } }[]; button?: string; sections?: { rows: { id: string; title: string; description?: string }[] }[] };
  } | null;
  /** An audio or document message's file (by link), else null. */
  media: { type: 'audio' | 'document'; link: string; filename: string | null; caption: string | null } | null;
  /** The Authorization header. */
  auth: string | null;
  raw: Record<string, unknown>;
}

export type FakeWaMode =
  | { kind: 'ok' }
  | { kind: 'error'; status: number; code: number; subcode?: number; message: string }
  | { kind: 'error500' }
  | { kind: 'drop' };

export class FakeWhatsApp extends FakeProviderServer {
  readonly messages: FakeWaMessage[] = [];
  /** Every POST, accepted or not. */
  requests = 0;
  private mode: FakeWaMode = { kind: 'ok' };
  private modeCount = Infinity;
  private readonly perRecipient = new Map<string, FakeWaMode>();
  /** Recipients whose last message is more than 24 hours old: anything but a template answers 131047. */
  private readonly outside = new Set<string>();
  /** Inbound media files (addMedia). */
  readonly media = new FakeMediaStore();

  /** A media file a patient sent (a voice note): its media id, as a notification would carry it (`whatsapp-media:<id>` inbound). */
  addMedia(bytes: Buffer, contentType: string, options: FakeMediaOptions = {}): { id: string } {
    const id = `${Date.now()}${randomBytes(3).readUIntBE(0, 3)}`;
    this.media.add(bytes, contentType, options, id);
    return { id };
  }

  /** Every GET for media: the metadata (/v21.0/<id>) and the download. */
  get mediaRequests(): FakeMediaRequest[] {
    return this.media.requests;
  }

  /** What WHATSAPP_API_BASE_URL points at. */
  get baseUrl(): string {
    return `${this.url}/v21.0`;
  }

  /** The next `times` sends (default: all until `ok()`) answer this way. */
  setMode(mode: FakeWaMode, times = Infinity): this {
    this.mode = mode;
    this.modeCount = times;
    return this;
  }

  ok(): this {
    this.perRecipient.clear();
    this.outside.clear();
    return this.setMode({ kind: 'ok' });
  }

  /** A Graph error answer: 131026 (undeliverable) by default. */
  refuse(times = Infinity, code = 131026, status = 400): this {
    return this.setMode({ kind: 'error', status, code, message: GRAPH_MESSAGES[code] ?? 'Error' }, times);
  }

  /** Sends to this recipient (E.164 or digits) answer with this Graph error. */
  refuseRecipient(to: string, code = 131026, status = 400): this {
    this.perRecipient.set(to.replace(/\D/g, ''), { kind: 'error', status, code, message: GRAPH_MESSAGES[code] ?? 'Error' });
    return this;
  }

  /** This recipient (E.164 or digits) last wrote more than 24 hours ago: only a template reaches them. */
  outsideWindow(to: string): this {
    this.outside.add(to.replace(/\D/g, ''));
    return this;
  }

  down(kind: 'error500' | 'drop' = 'error500', times = Infinity): this {
    return this.setMode({ kind }, times);
  }

  /** Messages to a recipient, given as E.164 or digits. */
  to(recipient: string): FakeWaMessage[] {
    const digits = recipient.replace(/\D/g, '');
    return this.messages.filter((m) => m.to === digits);
  }

  /** Waits for `n` messages to `recipient` in total. */
  waitFor(recipient: string, n = 1, timeoutMs = 10_000): Promise<FakeWaMessage[]> {
    return this.waitUntil(() => this.to(recipient).length >= n, timeoutMs, `${n} message(s) to ${recipient}`).then(() => this.to(recipient));
  }

  private currentMode(to: string): FakeWaMode {
    const own = this.perRecipient.get(to);
    if (own) return own;
    if (this.mode.kind === 'ok') return this.mode;
    const mode = this.mode;
    if (--this.modeCount <= 0) this.setMode({ kind: 'ok' });
    return mode;
  }

  protected progress(): string {
    return `${this.messages.length} messages received`;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const graphError = (status: number, code: number, message: string, subcode?: number, details?: string) => json(status, {
      error: {
        message, type: 'OAuthException', code, ...(subcode ? { error_subcode: subcode } : {}),
        ...(details ? { error_data: { messaging_product: 'whatsapp', details } } : {}), fbtrace_id: `A${randomBytes(8).toString('hex')}`,
      },
    });
    if (req.method === 'GET' && await this.answerMedia(req, res, url, json, graphError)) return;
    const m = /^\/v21\.0\/([^/]+)\/messages$/.exec(url.pathname);
    if (!m || req.method !== 'POST') return graphError(400, 100, 'Unsupported request - method type: ' + (req.method ?? '').toLowerCase());
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    this.requests++;
    if (req.headers.authorization !== `Bearer ${FAKE_WA_TOKEN}`) return graphError(401, 190, 'Invalid OAuth access token - Cannot parse access token');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return graphError(400, 100, 'Invalid parameter');
    }
    const to = typeof body.to === 'string' ? body.to : '';
    const mode = this.currentMode(to);
    if (mode.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (mode.kind === 'error500') return json(500, { error: { message: 'An unknown error occurred', type: 'OAuthException', code: 1, fbtrace_id: 'Afake' } });
    if (mode.kind === 'error') return graphError(mode.status, mode.code, mode.message, mode.subcode);
    if (this.outside.has(to) && body.type !== 'template') {
      return graphError(400, 131047, GRAPH_MESSAGES[131047]!, undefined, 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.');
    }
    const problem = validate(body);
    if (problem) return graphError(400, 100, `(#100) ${problem}`);
    const interactive = (body.interactive ?? null) as FakeWaMessage['interactive'];
    const template = body.type === 'template' ? body.template as FakeTemplate : null;
    const media = mediaOf(body);
    const message: FakeWaMessage = {
      id: `wamid.${randomBytes(24).toString('base64url')}`, phoneNumberId: decodeURIComponent(m[1]!), to, type: String(body.type),
      text: body.type === 'text' ? (body.text as { body: string }).body : template ? template.components[0].parameters[0].text : interactive?.body.text ?? media?.caption ?? '',
      template: template ? { name: template.name, language: template.language.code } : null,
      interactive, media, auth: req.headers.authorization ?? null, raw: body,
    };
    this.messages.push(message);
    json(200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to }], messages: [{ id: message.id }] });
    this.notify();
  }

  /** A media id's metadata or its bytes (true: answered); other GETs are not media. */
  private async answerMedia(
    req: http.IncomingMessage, res: http.ServerResponse, url: URL,
    json: (status: number, body: unknown) => void, graphError: (status: number, code: number, message: string) => void,
  ): Promise<boolean> {
    const meta = /^\/v21\.0\/(\d+)$/.exec(url.pathname);
    const download = url.pathname === '/whatsapp_business/attachments/';
    if (!meta && !download) return false;
    this.media.record(req);
    if (req.headers.authorization !== `Bearer ${FAKE_WA_TOKEN}`) {
      graphError(401, 190, 'Invalid OAuth access token - Cannot parse access token');
      return true;
    }
    const file = this.media.get(meta ? meta[1]! : url.searchParams.get('mid') ?? '');
    if (!file) {
      graphError(meta ? 400 : 404, 100, `Unsupported get request. Object with ID '${meta?.[1] ?? ''}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`);
    } else if (meta) {
      json(200, {
        messaging_product: 'whatsapp', id: file.key, mime_type: file.contentType, sha256: createHash('sha256').update(file.bytes).digest('hex'),
        file_size: declaredSize(file), url: `${this.url}/whatsapp_business/attachments/?mid=${file.key}&ext=${Math.floor(Date.now() / 1000)}&hash=ATf${randomBytes(6).toString('hex')}`,
      });
    } else {
      await serveBytes(res, file);
    }
    this.notify();
    return true;
  }
}

const GRAPH_MESSAGES: Record<number, string> = {
  131026: 'Message undeliverable',
  131047: 'Re-engagement message',
  100: 'Invalid parameter',
  4: 'Application request limit reached',
  80007: 'Rate limit issues',
  190: 'Error validating access token: Session has expired',
};

interface FakeTemplate { name: string; language: { code: string }; components: { type: string; parameters: { type: string; text: string }[] }[] }

/** A template message as the real API checks it (a one-variable body): name, language, and a text parameter without newlines, tabs or 5 spaces in a row. */
function validateTemplate(t: FakeTemplate | undefined): string | null {
  if (!t || typeof t.name !== 'string' || !/^[a-z0-9_]+$/.test(t.name)) return 'Param template[\'name\'] is invalid';
  if (typeof t.language?.code !== 'string' || !t.language.code) return 'Param template[\'language\'][\'code\'] is required';
  const body = Array.isArray(t.components) && t.components.length === 1 ? t.components[0] : null;
  if (body?.type !== 'body' || !Array.isArray(body.parameters) || body.parameters.length !== 1) return 'Number of parameters does not match the expected number of params';
  const p = body.parameters[0];
  if (p.type !== 'text' || typeof p.text !== 'string' || !p.text) return 'Param template[\'components\'][0][\'parameters\'][0][\'text\'] is required';
  if (/[\n\t]| {5,}/.test(p.text)) return 'Param text cannot have new-line/tab characters or more than 4 consecutive spaces';
  return p.text.length <= 1024 ? null : 'Param text is too long';
}

type FakeMediaObject = { link?: unknown; id?: unknown; caption?: unknown; filename?: unknown };

/** An audio or document message's object as recorded, else null. */
function mediaOf(body: Record<string, unknown>): FakeWaMessage['media'] {
  if (body.type !== 'audio' && body.type !== 'document') return null;
  const o = body[body.type] as FakeMediaObject;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return { type: body.type, link: String(o.link), filename: str(o.filename), caption: str(o.caption) };
}

/** An audio or document object as the real API checks it: a public link (Meta fetches it); audio takes no caption or file name. */
function validateMedia(type: 'audio' | 'document', o: FakeMediaObject | undefined): string | null {
  if (!o || typeof o !== 'object') return `Param ${type} is required`;
  if (typeof o.link !== 'string' || !/^https?:\/\/[^/]/.test(o.link)) return `Param ${type}['link'] is not a valid URL`;
  if (type === 'audio' && (o.caption !== undefined || o.filename !== undefined)) return 'Param audio takes no caption or filename';
  if (o.caption !== undefined && (typeof o.caption !== 'string' || !o.caption || o.caption.length > 1024)) return `Param ${type}['caption'] is invalid`;
  if (o.filename !== undefined && (typeof o.filename !== 'string' || !o.filename)) return `Param ${type}['filename'] is invalid`;
  return null;
}

/** What the real API rejects with (#100): the limits the adapter must respect. */
function validate(body: Record<string, unknown>): string | null {
  if (body.messaging_product !== 'whatsapp') return 'The parameter messaging_product is required.';
  if (typeof body.to !== 'string' || !/^\d{6,15}$/.test(body.to)) return 'Invalid parameter: to';
  if (body.type === 'template') return validateTemplate(body.template as FakeTemplate | undefined);
  if (body.type === 'audio' || body.type === 'document') return validateMedia(body.type, body[body.type] as FakeMediaObject | undefined);
  if (body.type === 'text') {
    const text = (body.text as { body?: unknown } | undefined)?.body;
    return typeof text === 'string' && text.length > 0 && text.length <= 4096 ? null : 'Param text[\'body\'] is invalid';
  }
  if (body.type !== 'interactive') return `Unsupported message type ${String(body.type)}`;
  const i = body.interactive as FakeWaMessage['interactive'];
  if (!i || typeof i.body?.text !== 'string' || !i.body.text || i.body.text.length > 1024) return 'Param interactive[\'body\'][\'text\'] is invalid';
  if (i.type === 'button') {
    const buttons = i.action.buttons ?? [];
    if (buttons.length < 1 || buttons.length > 3) return 'Param interactive[\'action\'][\'buttons\'] must have between 1 and 3 elements';
    if (buttons.some((b) => b.type !== 'reply' || !b.reply.id || [...b.reply.title].length > 20 || !b.reply.title)) return 'Button title length invalid. Should be between 1 and 20 characters long.';
    if (new Set(buttons.map((b) => b.reply.title)).size !== buttons.length) return 'Button title must be unique';
    return null;
  }
  if (i.type === 'list') {
    if (!i.action.button || [...i.action.button].length > 20) return 'Param interactive[\'action\'][\'button\'] is invalid';
    const rows = (i.action.sections ?? []).flatMap((s) => s.rows);
    if (rows.length < 1 || rows.length > 10) return 'Total row count exceed max allowed count: 10';
    if (rows.some((r) => !r.id || !r.title || [...r.title].length > 24 || (r.description !== undefined && [...r.description].length > 72))) return 'Row title or description too long';
    if (new Set(rows.map((r) => r.id)).size !== rows.length) return 'Row id must be unique';
    return null;
  }
  return 'Unsupported interactive type';
}

/** Environment for a service that sends through `fake`. */
export function whatsappEnv(fake: FakeWhatsApp, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WHATSAPP_ACCESS_TOKEN: FAKE_WA_TOKEN, WHATSAPP_PHONE_NUMBER_ID: FAKE_WA_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET: FAKE_WA_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: FAKE_WA_VERIFY_TOKEN, WHATSAPP_API_BASE_URL: fake.baseUrl, WHATSAPP_RATE_PER_SECOND: '1000', ...extra,
  };
}

export const newWamid = () => `wamid.HBgL${randomBytes(18).toString('base64url')}`;
/** A unique phone number id for a test organization (settings.whatsapp_phone_number_id routes notifications to it). */
export const uniquePhoneNumberId = () => `1${randomBytes(7).readUIntBE(0, 6).toString().padStart(14, '0').slice(0, 14)}`;

/** The digits-only WhatsApp id of an E.164 number. */
export const waId = (e164: string) => e164.replace(/\D/g, '');

/** POSTs `payload` to the service's webhook signed as Meta signs it (or with `signature` instead). */
export async function postNotification(serviceUrl: string, payload: unknown, opts: { secret?: string; signature?: string | null } = {}): Promise<{ status: number; text: string }> {
  const raw = JSON.stringify(payload);
  const signature = opts.signature !== undefined ? opts.signature : `sha256=${createHmac('sha256', opts.secret ?? FAKE_WA_APP_SECRET).update(raw).digest('hex')}`;
  const res = await fetch(`${serviceUrl}${WA_WEBHOOK}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature !== null ? { 'x-hub-signature-256': signature } : {}) },
    body: raw,
  });
  return { status: res.status, text: await res.text() };
}

/** A notification as the Cloud API sends it, for the number `phoneNumberId`. */
export function notification(phoneNumberId: string, value: { messages?: unknown[]; statuses?: unknown[]; contacts?: unknown[] }): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId }, ...value },
      }],
    }],
  };
}

export type InboundContent =
  | { text: string }
  | { buttonReply: { id: string; title: string } }
  | { listReply: { id: string; title: string; description?: string } }
  | { image: { id: string; mime_type: string; caption?: string } }
  | { audio: { id: string; mime_type: string; voice?: boolean } }
  | { location: { latitude: number; longitude: number } };

/** One inbound message from the patient `from` (E.164) as a notification. */
export function inboundMessage(phoneNumberId: string, from: string, content: InboundContent, wamid = newWamid(), name = 'Ana'): Record<string, unknown> {
  const base = { from: waId(from), id: wamid, timestamp: String(Math.floor(Date.now() / 1000)) };
  let message: Record<string, unknown>;
  if ('text' in content) message = { ...base, type: 'text', text: { body: content.text } };
  else if ('buttonReply' in content) message = { ...base, type: 'interactive', interactive: { type: 'button_reply', button_reply: content.buttonReply } };
  else if ('listReply' in content) message = { ...base, type: 'interactive', interactive: { type: 'list_reply', list_reply: content.listReply } };
  else if ('image' in content) message = { ...base, type: 'image', image: { ...content.image, sha256: 'x' } };
  else if ('audio' in content) message = { ...base, type: 'audio', audio: { ...content.audio, sha256: 'x' } };
  else message = { ...base, type: 'location', location: content.location };
  return notification(phoneNumberId, { contacts: [{ profile: { name }, wa_id: waId(from) }], messages: [message] });
}

/** A status notification for a message we sent. */
export function statusNotification(phoneNumberId: string, wamid: string, status: 'sent' | 'delivered' | 'read' | 'failed', recipient: string, errorCode?: number): Record<string, unknown> {
  return notification(phoneNumberId, {
    statuses: [{
      id: wamid, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: waId(recipient),
      ...(errorCode ? { errors: [{ code: errorCode, title: GRAPH_MESSAGES[errorCode] ?? 'Error' }] } : {}),
    }],
  });
}
