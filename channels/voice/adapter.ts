/**
 * The voice channel (Twilio Programmable Voice). A caller talks to the same
 * engine as every other channel: Twilio recognizes the speech (or the keys
 * pressed) of each <Gather> and posts it to channels/voice/webhooks.ts, and
 * the bot's replies are spoken in the TwiML that answers it. So nothing of
 * this channel goes through the dispatcher (`dispatched: false`); a reply that
 * no call is there to hear is failed when the call ends (models/calls.ts).
 * With VOICE_RECOGNITION=stream the call's audio comes over a Media Stream
 * instead, heard and spoken by our speech service (callStream.ts).
 */
import type { Config } from '../../lib/config.js';
import type { VoiceStreamServer } from './streamServer.js';
import { ProviderRefusedError, type ChannelAdapter, type ChannelCapabilities, type ChannelHealth, type SendResult } from '../types.js';

export const VOICE_INCOMING_PATH = '/api/v1/voice/incoming';
export const VOICE_GATHER_PATH = '/api/v1/voice/gather';
export const VOICE_STATUS_PATH = '/api/v1/voice/status';
/** The call's Media Stream socket is this path and the CallSid (VOICE_RECOGNITION=stream). */
export const VOICE_STREAM_PATH = '/api/v1/voice/stream';
/** The <Connect> action Twilio asks when a call's Media Stream ends. */
export const VOICE_STREAM_ENDED_PATH = '/api/v1/voice/stream-ended';

export class TwilioVoiceAdapter implements ChannelAdapter {
  readonly name = 'voice' as const;
  readonly capabilities: ChannelCapabilities = { buttons: false, media: false, maxTextLength: 4096 };
  readonly dispatched = false;
  readonly enabled: boolean;

  constructor(private readonly opts: { config: Config; streams?: VoiceStreamServer | null }) {
    this.enabled = Boolean(opts.config.TWILIO_AUTH_TOKEN);
  }

  async start(): Promise<void> {}

  /** Open streams are closed: Twilio asks the <Connect> action, and another instance goes on with the call. */
  async stop(): Promise<void> {
    this.opts.streams?.close();
  }

  /** Replies are spoken in the call's TwiML, never sent on their own. */
  async send(): Promise<SendResult> {
    throw new ProviderRefusedError('voice replies are spoken during the call only', 'voice_not_in_call');
  }

  health(): ChannelHealth {
    if (!this.enabled) return { name: 'voice', enabled: false, status: 'off', detail: 'TWILIO_AUTH_TOKEN is not set, so calls cannot be verified' };
    const heard = this.opts.streams ? `; callers heard over Media Streams (${this.opts.streams.size} open)` : '';
    return { name: 'voice', enabled: true, status: 'up', detail: `Twilio voice webhooks at ${VOICE_INCOMING_PATH}${heard}${this.opts.config.PUBLIC_URL ? '' : '; no PUBLIC_URL, so signatures are checked against the address requests arrive at'}` };
  }
}
