/**
 * A fake Twilio REST API on 127.0.0.1, at Twilio's wire protocol: form POSTs
 * to /2010-04-01/Accounts/{sid}/Messages.json answered like Twilio (201, a
 * message resource with an `SM…` sid; a Body, MediaUrl fields or both), and the message list (GET, newest
 * first) the adapter reads after an in-doubt attempt. It records every
 * message, and can be told to refuse (400 with a Twilio code), to answer 500,
 * or to drop connections. It serves inbound MMS media (addMedia) as Twilio
 * does: GET of the Media URL with Basic auth (401, code 20003, without)
 * answers a 302 to a pre-signed storage path of the fake, which serves the
 * bytes without auth and, like S3, refuses a request that also carries an
 * Authorization header (400). Plus helpers that send signed inbound webhooks and
 * status callbacks the way Twilio signs them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { FakeProviderServer } from './fakeProvider.js';
import { FakeMediaStore, serveBytes, type FakeMediaOptions, type FakeMediaRequest } from './fakeMediaStore.js';

export const FAKE_ACCOUNT_SID = `AC${'1'.repeat(32)}`;
export const FAKE_AUTH_TOKEN = 'fake-twilio-auth-token-0123456789';
export const FAKE_FROM_NUMBER = '+15005550006';
export const FAKE_PUBLIC_URL = 'https://carechat.example.test';

export interface FakeTwilioMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  /** The Body field ('' when it was not sent: a message with MediaUrl alone). */
  body: string;
  /** The MediaUrl fields, in order (an MMS; empty for a text). */
  mediaUrls: string[];
  /** The names of the form fields posted, sorted (to tell an absent Body from an empty one). */
  fields: string[];
  statusCallback: string | null;
  /** The Basic auth user the request carried. */
  authUser: string | null;
  createdAt: Date;
}

export type FakeTwilioMode =
  | { kind: 'ok' }
  | { kind: 'refuse'; status: number; code: number; message: string }
  | { kind: 'error500' }
  | { kind: 'drop' };

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');

export class FakeTwilio extends FakeProviderServer {
  readonly messages: FakeTwilioMessage[] = [];
  /** Every POST, accepted or not. */
  requests = 0;
  private mode: FakeTwilioMode = { kind: 'ok' };
  private modeCount = Infinity;
  private readonly perRecipient = new Map<string, FakeTwilioMode>();
  /** Inbound MMS media (addMedia), keyed by the storage object's name. */
  readonly media = new FakeMediaStore();
  private readonly mediaPaths = new Map<string, string>();

  /** A file a patient sent by MMS (a voice note): its Media URL, as MediaUrl<i> of the inbound webhook carries it. */
  addMedia(bytes: Buffer, contentType: string, options: FakeMediaOptions = {}): { url: string } {
    const path = `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Messages/MM${randomBytes(16).toString('hex')}/Media/ME${randomBytes(16).toString('hex')}`;
    const file = this.media.add(bytes, contentType, options);
    this.mediaPaths.set(path, file.key);
    return { url: `${this.url}${path}` };
  }

  /** Every GET of a Media URL and of the storage it redirects to. */
  get mediaRequests(): FakeMediaRequest[] {
    return this.media.requests;
  }

  /** The next `times` sends (default: all until `ok()`) answer this way. */
  setMode(mode: FakeTwilioMode, times = Infinity): this {
    this.mode = mode;
    this.modeCount = times;
    return this;
  }

  ok(): this {
    return this.setMode({ kind: 'ok' });
  }

  /** Twilio's answer to an invalid 'To' number: 400 with code 21211. */
  refuse(times = Infinity, code = 21211, status = 400): this {
    return this.setMode({ kind: 'refuse', status, code, message: code === 21211 ? "The 'To' number is not a valid phone number." : 'Too Many Requests' }, times);
  }

  /** Sends to this recipient answer this way (others are unaffected). */
  refuseRecipient(to: string, code = 21211): this {
    this.perRecipient.set(to, { kind: 'refuse', status: 400, code, message: "The 'To' number is not a valid phone number." });
    return this;
  }

  down(kind: 'error500' | 'drop' = 'error500', times = Infinity): this {
    return this.setMode({ kind }, times);
  }

  to(recipient: string): FakeTwilioMessage[] {
    return this.messages.filter((m) => m.to === recipient);
  }

  /** How many messages each recipient got. */
  countsByRecipient(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const m of this.messages) counts.set(m.to, (counts.get(m.to) ?? 0) + 1);
    return counts;
  }

  /** Waits for `n` messages to `recipient` in total. */
  waitFor(recipient: string, n = 1, timeoutMs = 10_000): Promise<FakeTwilioMessage[]> {
    return this.waitUntil(() => this.to(recipient).length >= n, timeoutMs, `${n} message(s) to ${recipient}`).then(() => this.to(recipient));
  }

  private currentMode(to: string): FakeTwilioMode {
    const own = this.perRecipient.get(to);
    if (own) return own;
    if (this.mode.kind === 'ok') return this.mode;
    const mode = this.mode;
    if (--this.modeCount <= 0) this.ok();
    return mode;
  }

  protected progress(): string {
    return `${this.messages.length} messages received`;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(url.pathname);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && await this.answerMedia(req, res, url, json)) return;
    if (!m) return json(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    const accountSid = m[1]!;
    if (req.method === 'GET') {
      const to = url.searchParams.get('To');
      const size = Number(url.searchParams.get('PageSize') ?? 50);
      const list = this.messages.filter((x) => x.accountSid === accountSid && (!to || x.to === to)).slice().reverse().slice(0, size);
      return json(200, {
        messages: list.map((x) => this.resource(x)), uri: url.pathname, page: 0, page_size: size, start: 0, end: list.length,
        first_page_uri: url.pathname, next_page_uri: null, previous_page_uri: null,
      });
    }
    if (req.method !== 'POST') return json(405, { code: 20004, message: 'Method not allowed', status: 405 });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    this.requests++;
    const to = form.get('To') ?? '';
    const mode = this.currentMode(to);
    if (mode.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (mode.kind === 'error500') return json(500, { code: 20500, message: 'Internal Server Error', status: 500 });
    if (mode.kind === 'refuse') return json(mode.status, { code: mode.code, message: mode.message, more_info: `https://www.twilio.com/docs/errors/${mode.code}`, status: mode.status });
    const body = form.get('Body');
    const mediaUrls = form.getAll('MediaUrl');
    if (!to || (body == null && mediaUrls.length === 0) || (!form.get('From') && !form.get('MessagingServiceSid'))) {
      return json(400, { code: 21604, message: "A 'To' phone number, a 'From' or 'MessagingServiceSid' and a 'Body' or 'MediaUrl' are required.", status: 400 });
    }
    // Twilio fetches each MediaUrl itself: it must be a public http(s) URL.
    if (mediaUrls.some((u) => !/^https?:\/\//.test(u))) return json(400, { code: 21620, message: 'Invalid media URL(s)', status: 400 });
    const auth = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':')[0]! : null;
    const message: FakeTwilioMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`, accountSid, to, from: form.get('From'), messagingServiceSid: form.get('MessagingServiceSid'),
      body: body ?? '', mediaUrls, fields: [...new Set(form.keys())].sort(), statusCallback: form.get('StatusCallback'), authUser: auth, createdAt: new Date(),
    };
    this.messages.push(message);
    json(201, this.resource(message));
    this.notify();
  }

  /** A Media URL (302 to storage) or the storage object (true: answered); other GETs are not media. */
  private async answerMedia(req: http.IncomingMessage, res: http.ServerResponse, url: URL, json: (status: number, body: unknown) => void): Promise<boolean> {
    const storage = /^\/media-storage\/([0-9a-f]+)$/.exec(url.pathname);
    const key = storage ? storage[1]! : this.mediaPaths.get(url.pathname);
    if (!key && !/\/Media\/[^/]+$/.test(url.pathname)) return false;
    this.media.record(req);
    const file = key ? this.media.get(key) : undefined;
    if (!file) {
      json(404, { code: 20404, message: `The requested resource ${url.pathname} was not found`, more_info: 'https://www.twilio.com/docs/errors/20404', status: 404 });
    } else if (storage && req.headers.authorization) {
      res.writeHead(400, { 'content-type': 'application/xml' });
      res.end('<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>');
    } else if (storage) {
      await serveBytes(res, file);
    } else if (req.headers.authorization !== `Basic ${Buffer.from(`${FAKE_ACCOUNT_SID}:${FAKE_AUTH_TOKEN}`).toString('base64')}`) {
      json(401, { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    } else {
      res.writeHead(302, { location: `${this.url}/media-storage/${file.key}?X-Amz-Expires=14400&X-Amz-Signature=${randomBytes(16).toString('hex')}` });
      res.end();
    }
    this.notify();
    return true;
  }

  private resource(x: FakeTwilioMessage): Record<string, unknown> {
    return {
      sid: x.sid, account_sid: x.accountSid, to: x.to, from: x.from, messaging_service_sid: x.messagingServiceSid, body: x.body,
      status: 'queued', direction: 'outbound-api', api_version: '2010-04-01', num_segments: String(Math.max(1, Math.ceil(x.body.length / 153))),
      num_media: String(x.mediaUrls.length), date_created: rfc2822(x.createdAt), date_updated: rfc2822(x.createdAt), date_sent: null,
      error_code: null, error_message: null, price: null, price_unit: 'USD',
      uri: `/2010-04-01/Accounts/${x.accountSid}/Messages/${x.sid}.json`, subresource_uris: {},
    };
  }
}

/** Environment for a service that sends through `fake`. */
export function twilioEnv(fake: FakeTwilio, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID, TWILIO_AUTH_TOKEN: FAKE_AUTH_TOKEN, TWILIO_FROM_NUMBER: FAKE_FROM_NUMBER,
    TWILIO_API_BASE_URL: fake.url, PUBLIC_URL: FAKE_PUBLIC_URL, SMS_RATE_PER_SECOND: '1000', ...extra,
  };
}

/** A URL where nothing listens (connections are refused). */
export async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

let sidCounter = 0;
export const newInboundSid = () => `SM${randomBytes(12).toString('hex')}${String(++sidCounter).padStart(8, '0')}`;

export interface SignedPostOptions {
  /** The service's real address (the request goes there). */
  serviceUrl: string;
  /** What the service believes its public URL is (the signature covers it). */
  publicUrl?: string;
  authToken?: string;
  /** Send this signature instead of the right one. */
  signature?: string;
}

/** POSTs a form to the service signed as Twilio signs it (HMAC-SHA1 of the public URL + sorted params). */
export async function postSignedForm(path: string, params: Record<string, string>, opts: SignedPostOptions): Promise<{ status: number; type: string | null; text: string }> {
  const signature = opts.signature ?? twilio.getExpectedTwilioSignature(opts.authToken ?? FAKE_AUTH_TOKEN, `${opts.publicUrl ?? FAKE_PUBLIC_URL}${path}`, params);
  const res = await fetch(`${opts.serviceUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** An inbound SMS from `from` to `to` as Twilio posts it. */
export function sendInboundSms(serviceUrl: string, input: { from: string; to?: string; body: string; sid?: string }, opts: Omit<SignedPostOptions, 'serviceUrl'> = {}) {
  const params = {
    ToCountry: 'US', SmsMessageSid: input.sid ?? newInboundSid(), NumMedia: '0', FromCountry: 'ES', SmsStatus: 'received',
    Body: input.body, To: input.to ?? FAKE_FROM_NUMBER, NumSegments: '1', MessageSid: '', AccountSid: FAKE_ACCOUNT_SID, From: input.from, ApiVersion: '2010-04-01',
  };
  params.MessageSid = params.SmsMessageSid;
  return postSignedForm('/api/v1/channels/sms/inbound', params, { serviceUrl, ...opts });
}

/** A delivery-status callback for a message Twilio accepted. */
export function sendStatusCallback(serviceUrl: string, input: { sid: string; status: string; to?: string; from?: string; errorCode?: string }, opts: Omit<SignedPostOptions, 'serviceUrl'> = {}) {
  const params: Record<string, string> = {
    MessageSid: input.sid, SmsSid: input.sid, MessageStatus: input.status, SmsStatus: input.status, AccountSid: FAKE_ACCOUNT_SID,
    From: input.from ?? FAKE_FROM_NUMBER, To: input.to ?? '', ApiVersion: '2010-04-01',
    ...(input.errorCode ? { ErrorCode: input.errorCode } : {}),
  };
  return postSignedForm('/api/v1/channels/sms/status', params, { serviceUrl, ...opts });
}
