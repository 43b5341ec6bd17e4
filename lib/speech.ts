/**
 * Text to speech for streamed phone calls (VOICE_RECOGNITION=stream), through
 * the same OpenAI-compatible service as the speech to text. The audio is asked
 * for as WAV, whose header names its rate (OpenAI's is 24 kHz; other
 * compatible servers differ), so the call can resample it to the phone's 8 kHz;
 * and it is read as it arrives, so the caller hears the start of a reply
 * while the rest is still being spoken by the service.
 */
import OpenAI from 'openai';
import type { Logger } from './logger.js';
import { WavStreamReader, type PcmAudio } from './telephonyAudio.js';

export interface Speaker {
  /**
   * The line spoken, in pieces as they arrive (mono samples at the rate the
   * WAV header names). Throws when the service fails, is slower than
   * OPENAI_SPEECH_TIMEOUT_MS in all, or sends what is not 16-bit PCM WAV.
   */
  stream(text: string): AsyncIterable<PcmAudio>;
}

export interface SpeakerConfig {
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_SPEECH_MODEL: string;
  OPENAI_SPEECH_VOICE: string;
  OPENAI_SPEECH_TIMEOUT_MS: number;
}

/** Null without an OpenAI-compatible service configured. */
export function createSpeaker(config: SpeakerConfig, logger: Logger): Speaker | null {
  if (!config.OPENAI_API_KEY && !config.OPENAI_BASE_URL) return null;
  const client = new OpenAI({
    apiKey: config.OPENAI_API_KEY ?? 'not-needed', baseURL: config.OPENAI_BASE_URL, maxRetries: 0, timeout: config.OPENAI_SPEECH_TIMEOUT_MS,
  });
  return {
    async *stream(text) {
      const started = Date.now();
      try {
        const response = await client.audio.speech.create(
          { model: config.OPENAI_SPEECH_MODEL, voice: config.OPENAI_SPEECH_VOICE, input: text, response_format: 'wav' },
          // The whole body within the deadline, not only its headers.
          { signal: AbortSignal.timeout(config.OPENAI_SPEECH_TIMEOUT_MS) },
        );
        if (!response.body) throw new TypeError('the speech service sent no audio');
        const reader = new WavStreamReader();
        for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
          const samples = reader.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          if (samples.length) yield { sampleRate: reader.sampleRate!, samples };
        }
        if (reader.sampleRate === null) throw new TypeError('the speech service sent no WAV header');
      } catch (err) {
        // The error's kind and status only: never the words.
        logger.warn({ err_name: (err as Error).name, status: (err as { status?: number }).status, ms: Date.now() - started }, 'speech not synthesized');
        throw err;
      }
    },
  };
}
