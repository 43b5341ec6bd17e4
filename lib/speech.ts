/**
 * Text to speech for streamed phone calls (VOICE_RECOGNITION=stream), through
 * the same OpenAI-compatible service as the speech to text. The audio is asked
 * for as WAV, whose header names its rate (OpenAI's is 24 kHz; other
 * compatible servers differ), so the call can resample it to the phone's 8 kHz.
 * Best effort: a failed or slow synthesis gives null and the call falls back to
 * Twilio's own voice.
 */
import OpenAI from 'openai';
import type { Logger } from './logger.js';
import { readWav, type PcmAudio } from './telephonyAudio.js';

export interface Speaker {
  /** The line spoken, or null when the service failed, timed out or sent what is not 16-bit PCM WAV. */
  synthesize(text: string): Promise<PcmAudio | null>;
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
    async synthesize(text) {
      const started = Date.now();
      try {
        const response = await client.audio.speech.create({
          model: config.OPENAI_SPEECH_MODEL, voice: config.OPENAI_SPEECH_VOICE, input: text, response_format: 'wav',
        });
        return readWav(Buffer.from(await response.arrayBuffer()));
      } catch (err) {
        // The error's kind and status only: never the words.
        logger.warn({ err_name: (err as Error).name, status: (err as { status?: number }).status, ms: Date.now() - started }, 'speech not synthesized');
        return null;
      }
    },
  };
}
