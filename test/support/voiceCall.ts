/**
 * Twilio's side of a phone call, at its wire protocol: the signed form posts
 * Twilio makes to our voice webhooks (incoming, each <Gather>'s action,
 * status callbacks), and what it reads in the TwiML we answer.
 */
import { randomBytes } from 'node:crypto';
import { FAKE_ACCOUNT_SID, FAKE_PUBLIC_URL, postSignedForm, type SignedPostOptions } from './fakeTwilio.js';

export interface Twiml {
  raw: string;
  /** Every <Say>, in order (inside the <Gather> too). */
  says: string[];
  /** The locale of the first <Say>. */
  language: string | null;
  /** The <Gather>'s action (as a path on the service), or null when the call is not listening. */
  gatherAction: string | null;
  dial: string | null;
  hangup: boolean;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const decode = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]!);

export function parseTwiml(raw: string): Twiml {
  const action = /<Gather\b[^>]*\baction="([^"]+)"/.exec(raw)?.[1];
  return {
    raw,
    says: [...raw.matchAll(/<Say\b[^>]*>([\s\S]*?)<\/Say>/g)].map((m) => decode(m[1]!)),
    language: /<Say\b[^>]*\blanguage="([^"]+)"/.exec(raw)?.[1] ?? null,
    gatherAction: action ? decode(action).replace(FAKE_PUBLIC_URL, '') : null,
    dial: /<Dial\b[^>]*>([^<]+)<\/Dial>/.exec(raw)?.[1] ?? null,
    hangup: /<Hangup\s*\/>/.test(raw),
  };
}

export const newCallSid = () => `CA${randomBytes(16).toString('hex')}`;

/** One call from `from` to the clinic's number `to`. */
export class TwilioCall {
  readonly callSid: string;
  /** The TwiML of the last answer. */
  last: Twiml | null = null;

  constructor(private readonly serviceUrl: string, readonly from: string, readonly to: string, opts: { callSid?: string; signing?: Omit<SignedPostOptions, 'serviceUrl'> } = {}) {
    this.callSid = opts.callSid ?? newCallSid();
    this.signing = opts.signing ?? {};
  }

  private readonly signing: Omit<SignedPostOptions, 'serviceUrl'>;

  private base(): Record<string, string> {
    return { AccountSid: FAKE_ACCOUNT_SID, CallSid: this.callSid, From: this.from, To: this.to, Direction: 'inbound', ApiVersion: '2010-04-01' };
  }

  private async post(path: string, params: Record<string, string>): Promise<{ status: number; twiml: Twiml; text: string }> {
    const res = await postSignedForm(path, params, { serviceUrl: this.serviceUrl, ...this.signing });
    const twiml = parseTwiml(res.text);
    if (res.status === 200 && res.type?.includes('xml')) this.last = twiml;
    return { status: res.status, twiml, text: res.text };
  }

  /** The call reaches the clinic's number: Twilio asks what to do. */
  async dial(): Promise<{ status: number; twiml: Twiml }> {
    return this.post('/api/v1/voice/incoming', { ...this.base(), CallStatus: 'ringing' });
  }

  /** The caller speaks (Twilio posts what its recognizer heard) at the last <Gather>, or at `action`. */
  async speak(words: string, action = this.requireAction()): Promise<Twiml> {
    return (await this.post(action, { ...this.base(), CallStatus: 'in-progress', SpeechResult: words, Confidence: '0.91' })).twiml;
  }

  async press(digits: string, action = this.requireAction()): Promise<Twiml> {
    return (await this.post(action, { ...this.base(), CallStatus: 'in-progress', Digits: digits })).twiml;
  }

  /** The <Gather> timed out with nothing said (actionOnEmptyResult). */
  async stayQuiet(action = this.requireAction()): Promise<Twiml> {
    return (await this.post(action, { ...this.base(), CallStatus: 'in-progress' })).twiml;
  }

  /** A status callback (completed with its duration when the call ends). */
  async status(status: string, durationSeconds?: number): Promise<{ status: number; text: string }> {
    const res = await postSignedForm('/api/v1/voice/status', {
      ...this.base(), CallStatus: status, ...(durationSeconds === undefined ? {} : { CallDuration: String(durationSeconds) }),
    }, { serviceUrl: this.serviceUrl, ...this.signing });
    return { status: res.status, text: res.text };
  }

  private requireAction(): string {
    const action = this.last?.gatherAction;
    if (!action) throw new Error(`the call is not listening: ${this.last?.raw ?? 'not answered yet'}`);
    return action;
  }
}
