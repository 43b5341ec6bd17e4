/**
 * POST /messages/voice (Mark Assistant "send voice message"): staff upload an
 * audio file and it goes to the patient as a voice message on their channel.
 * The file is checked by its bytes (MP3, OGG or WAV), transcribed when an
 * OpenAI-compatible service is configured, stored sealed (models/mediaFiles.ts)
 * and sent by the dispatcher like any message: the provider, or the visitor's
 * browser, fetches it from its capability URL (GET /media/..., api/routes/media.ts).
 */
import { z } from 'zod';
import { route } from '../http/route.js';
import type { UploadedFile } from '../http/multipart.js';
import { messageSchema, presentMessage } from '../presenters/messages.js';
import { languageInput } from '../schemas/common.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { AUDIO_MIME_TYPES, noteTranscription, reserveMediaFile, storeMediaFile, storedMedia } from '../../models/mediaFiles.js';
import { readAudioFacts, type AudioFacts } from '../../lib/audio.js';
import { fieldError, unprocessable } from '../../lib/errors.js';
import { findDestination, MESSAGE_CHANNELS, openDestination } from './messages.js';

/** Twilio's limit for a message's media (WhatsApp takes 16 MB, Telegram 20 MB by URL). */
export const MAX_AUDIO_BYTES = 5 * 1024 * 1024;

/** The channels that fetch the file from us over the internet (web chat plays it from the service's own origin). */
const PROVIDER_CHANNELS: readonly string[] = ['sms', 'whatsapp', 'telegram'];

async function audioOf(upload: UploadedFile | undefined): Promise<{ bytes: Buffer; facts: AudioFacts }> {
  if (!upload) throw fieldError('audio_file', 'is required: an MP3, OGG or WAV file');
  if (upload.bytes.length === 0) throw fieldError('audio_file', 'is empty');
  const facts = await readAudioFacts(upload.bytes);
  if (!facts) throw fieldError('audio_file', 'must be an MP3, OGG (Opus or Vorbis) or WAV file');
  return { bytes: upload.bytes, facts };
}

function refuseChannel(channel: string, message: string): never {
  throw unprocessable(`A voice message cannot be sent on ${channel}: ${message}`, { field: 'channel', fields: [{ field: 'channel', message }] });
}

export const voiceMessageRoutes = [
  route({
    method: 'post', path: '/messages/voice', operationId: 'sendVoiceMessage', summary: 'Send a voice message (an audio file) to a patient (queued, then sent)', tag: 'messages',
    permission: 'communication.send', rateLimit: 'admin', status: 202, errors: [400, 404, 422],
    bodyType: 'multipart',
    upload: { field: 'audio_file', maxBytes: MAX_AUDIO_BYTES, description: 'The audio: MP3, OGG (Opus or Vorbis) or WAV, at most 5 MB' },
    body: z.object({
      patient_id: z.string().min(1, 'is required').max(64),
      language: languageInput.optional().describe("The language spoken, for the transcription (default: the patient's)"),
      channel: z.enum(MESSAGE_CHANNELS).optional().describe("Default: the channel of the patient's latest conversation"),
    }),
    response: messageSchema,
    handler: async ({ deps, orgId, body, upload, principal }) => {
      const scope = { organizationId: orgId };
      const { bytes, facts } = await audioOf(upload);
      // Checked before the transcription (a network call), and again in the transaction that stores the message.
      const { patient, channel } = await findDestination(deps.db.knex, scope, body.patient_id, body.channel);
      if (!(MESSAGE_CHANNELS as readonly string[]).includes(channel)) refuseChannel(channel, 'a phone call cannot carry an audio file: choose webchat, sms, whatsapp or telegram');
      if (PROVIDER_CHANNELS.includes(channel) && !deps.config.PUBLIC_URL) {
        refuseChannel(channel, `${channel} fetches the file from this service: set PUBLIC_URL to the service's public address`);
      }
      if (channel === 'telegram' && facts.format === 'wav') {
        throw fieldError('audio_file', 'Telegram takes voice messages as OGG (Opus) or MP3, not WAV (it fetches other files by URL only as GIF, PDF or ZIP)');
      }
      const ref = reserveMediaFile(facts.format);
      const fileName = `voice-message.${facts.format}`;
      const language = body.language ?? patient.preferred_language ?? null;
      const transcription = deps.transcriber ? await deps.transcriber.transcribe({ bytes, fileName, mimeType: AUDIO_MIME_TYPES[facts.format] }, language) : null;
      const now = deps.clock.now();
      const media = storedMedia(scope, ref, { facts, sizeBytes: bytes.length, fileName, baseUrl: deps.config.PUBLIC_URL ?? '' });
      const url = media.url;
      const message = await deps.db.knex.transaction(async (trx) => {
        const to = await openDestination(trx, scope, body.patient_id, body.channel, { idleMinutes: deps.config.CONVERSATION_IDLE_MINUTES, now });
        const queued = await queueOutboundMessage(trx, scope, {
          conversationId: to.conversation.id, patientId: to.patient.id, channel: to.channel, to: to.address, text: url, contentType: 'voice',
          metadata: { media }, sender: 'system', senderUserId: principal.userId, now,
        });
        await storeMediaFile(trx, scope, ref, {
          patientId: to.patient.id, conversationId: to.conversation.id, messageId: queued.id, bytes, durationMs: facts.durationMs,
          transcription: transcription?.text ?? null, transcriptionLanguage: transcription ? language : null, now,
        });
        return queued;
      });
      deps.hooks.outboundQueued?.();
      noteTranscription(message, transcription?.text ?? null);
      return { data: presentMessage(message), message: 'Voice message queued for delivery' };
    },
  }),
];
