/**
 * Twilio's Media Streams messages, as they arrive on a call's WebSocket
 * (connected, start, media, dtmf, mark, stop), read into what the call needs.
 * The start's call and stream ids are read where Twilio puts them
 * (`start.callSid`) and where VAANI's document shows them (top level).
 * We send back only media, mark and clear: Twilio refuses anything else on
 * the socket (warning 31951), so VAANI's session_state and transcript events
 * are not sent; the transcript is the call's messages (GET /call-logs/:id).
 */
export type TwilioStreamMessage =
  | { event: 'connected' }
  | { event: 'start'; streamSid: string; callSid: string | null }
  | { event: 'media'; payload: Buffer }
  | { event: 'dtmf'; digit: string }
  | { event: 'mark'; name: string }
  | { event: 'stop' };

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

/** The message, or null for what is not one of Twilio's (not JSON, an unknown event, the bot's own track). */
export function parseTwilioStreamMessage(raw: string): TwilioStreamMessage | null {
  let message: Json;
  try {
    message = obj(JSON.parse(raw));
  } catch {
    return null;
  }
  switch (message.event) {
    case 'connected':
    case 'stop':
      return { event: message.event };
    case 'start': {
      const start = obj(message.start);
      const streamSid = str(start.streamSid) ?? str(message.streamSid);
      return streamSid ? { event: 'start', streamSid, callSid: str(start.callSid) ?? str(message.callSid) } : null;
    }
    case 'media': {
      const media = obj(message.media);
      const track = str(media.track);
      const payload = str(media.payload);
      if (!payload || (track && !track.startsWith('inbound'))) return null;
      return { event: 'media', payload: Buffer.from(payload, 'base64') };
    }
    case 'dtmf': {
      const digit = str(obj(message.dtmf).digit);
      return digit ? { event: 'dtmf', digit } : null;
    }
    case 'mark': {
      const name = str(obj(message.mark).name);
      return name ? { event: 'mark', name } : null;
    }
    default:
      return null;
  }
}
