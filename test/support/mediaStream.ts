/**
 * Twilio's side of a call's Media Stream, at its wire protocol: the signed
 * WebSocket handshake to the <Stream> URL, then connected, start, the
 * caller's audio as 20 ms mu-law media frames, dtmf and stop; it collects
 * what the service sends (media, mark, clear) and, like Twilio once the audio
 * has played, returns each mark.
 */
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import WebSocket from 'ws';
import { mulawEncode } from '../../lib/telephonyAudio.js';
import { FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, FAKE_PUBLIC_URL } from './fakeTwilio.js';

export interface ServerFrame { event: string; streamSid?: string; media?: { payload: string }; mark?: { name: string } }

/** The <Stream url> and <Connect action> of a TwiML answer. */
export function streamTwiml(raw: string): { streamUrl: string | null; action: string | null } {
  return {
    streamUrl: /<Stream\b[^>]*\burl="([^"]+)"/.exec(raw)?.[1] ?? null,
    action: /<Connect\b[^>]*\baction="([^"]+)"/.exec(raw)?.[1]?.replace(FAKE_PUBLIC_URL, '') ?? null,
  };
}

/** X-Twilio-Signature over `url` with no parameters, with the fake account's token. */
export const twilioSignatureOver = (url: string): string => twilio.getExpectedTwilioSignature(FAKE_AUTH_TOKEN, url, {});

/** The handshake as Twilio makes it: X-Twilio-Signature over the public wss address, no parameters. */
export function openStreamSocket(serviceUrl: string, path: string, opts: { signature?: string | null; authToken?: string; signedAs?: 'wss' | 'https' } = {}): WebSocket {
  const publicUrl = `${opts.signedAs === 'https' ? FAKE_PUBLIC_URL : FAKE_PUBLIC_URL.replace(/^https:/, 'wss:')}${path}`;
  const signature = opts.signature === undefined ? twilio.getExpectedTwilioSignature(opts.authToken ?? FAKE_AUTH_TOKEN, publicUrl, {}) : opts.signature;
  return new WebSocket(`${serviceUrl.replace(/^http:/, 'ws:')}${path}`, { headers: signature === null ? {} : { 'x-twilio-signature': signature } });
}

/** The HTTP status an upgrade is refused with, or 101 when it is accepted. */
export function handshakeStatus(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

export class TwilioMediaStream {
  readonly streamSid = `MZ${randomBytes(16).toString('hex')}`;
  /** Everything the service sent, in order. */
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private sequence = 0;
  private chunk = 0;
  private audioMs = 0;
  /** Index in `frames` after the last mark taken. */
  private consumed = 0;
  private waiters: Array<() => void> = [];

  private constructor(private readonly ws: WebSocket, readonly callSid: string) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as ServerFrame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => {
      for (const wake of this.waiters.splice(0)) wake();
      resolve({ code, reason: reason.toString() });
    }));
  }

  /** Connects to the <Stream> path and sends connected and start, as Twilio does. */
  static async connect(serviceUrl: string, callSid: string, path = `/api/v1/voice/stream/${callSid}`): Promise<TwilioMediaStream> {
    const ws = openStreamSocket(serviceUrl, path);
    const status = await handshakeStatus(ws);
    if (status !== 101) throw new Error(`the stream was refused: ${status}`);
    const stream = new TwilioMediaStream(ws, callSid);
    stream.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    stream.send({
      event: 'start', sequenceNumber: stream.next(), streamSid: stream.streamSid,
      start: {
        accountSid: FAKE_ACCOUNT_SID, streamSid: stream.streamSid, callSid, tracks: ['inbound'], customParameters: {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    return stream;
  }

  /** The caller's audio (8 kHz), sent as Twilio does, in 20 ms frames (faster than real time). */
  sendAudio(samples: Int16Array): void {
    const bytes = mulawEncode(samples);
    for (let at = 0; at < bytes.length; at += 160) {
      this.audioMs += 20;
      this.send({
        event: 'media', sequenceNumber: this.next(), streamSid: this.streamSid,
        media: { track: 'inbound', chunk: String(++this.chunk), timestamp: String(this.audioMs), payload: bytes.subarray(at, at + 160).toString('base64') },
      });
    }
  }

  press(digit: string): void {
    this.send({ event: 'dtmf', streamSid: this.streamSid, sequenceNumber: this.next(), dtmf: { track: 'inbound_track', digit } });
  }

  /** The call ends (the caller hung up). */
  stop(): void {
    this.send({ event: 'stop', sequenceNumber: this.next(), streamSid: this.streamSid, stop: { accountSid: FAKE_ACCOUNT_SID, callSid: this.callSid } });
  }

  /** Waits for the service's next mark and returns the audio (mu-law bytes) sent before it, without playing it. */
  async nextMark(timeoutMs = 10_000): Promise<{ name: string; audio: Buffer; frames: ServerFrame[] }> {
    const index = await this.waitFor((f) => f.event === 'mark', timeoutMs);
    const frames = this.frames.slice(this.consumed, index + 1);
    this.consumed = index + 1;
    const audio = Buffer.concat(frames.filter((f) => f.event === 'media').map((f) => Buffer.from(f.media!.payload, 'base64')));
    return { name: this.frames[index]!.mark!.name, audio, frames };
  }

  /** What the service said up to its next mark, played to the caller: the mark goes back, as Twilio's does. */
  async play(timeoutMs = 10_000): Promise<Buffer> {
    const { name, audio } = await this.nextMark(timeoutMs);
    this.returnMark(name);
    return audio;
  }

  /** The audio before the mark `name` has played. */
  returnMark(name: string): void {
    this.send({ event: 'mark', sequenceNumber: this.next(), streamSid: this.streamSid, mark: { name } });
  }

  /** The index of the first frame from `consumed` on that matches, once it arrives. */
  async waitFor(match: (f: ServerFrame) => boolean, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((f, i) => i >= this.consumed && match(f));
      if (index !== -1) return index;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`the stream closed; frames: ${this.frames.map((f) => f.event).join(',')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame in ${timeoutMs} ms; frames: ${this.frames.slice(this.consumed).map((f) => f.event).join(',')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  private next(): string {
    return String(++this.sequence);
  }

  private send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }
}
