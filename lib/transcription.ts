/**
 * Speech to text for voice messages staff send (POST /messages/voice),
 * patients' voice notes and streamed phone calls, through the same
 * OpenAI-compatible service as the LLM understanding (OPENAI_API_KEY or
 * OPENAI_BASE_URL). Best effort: a failed or slow transcription gives null,
 * and each caller carries on without the words.
 */
import OpenAI, { toFile } from 'openai';
import type { Logger } from './logger.js';

export interface AudioToTranscribe { bytes: Buffer; fileName: string; mimeType: string }

export interface Transcription { text: string; language: string | null }

export interface Transcriber {
  /**
   * The words of the audio, or null when the service failed, timed out or heard nothing.
   * `prompt`: words to expect (a call's options, the clinic's doctors), so they are heard as written.
   */
  transcribe(audio: AudioToTranscribe, language: string | null, prompt?: string): Promise<Transcription | null>;
}

export interface TranscriberConfig {
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_TRANSCRIPTION_MODEL: string;
  OPENAI_TRANSCRIPTION_TIMEOUT_MS: number;
}

/** Null without an OpenAI-compatible service configured: voice messages are then sent untranscribed. */
export function createTranscriber(config: TranscriberConfig, logger: Logger): Transcriber | null {
  if (!config.OPENAI_API_KEY && !config.OPENAI_BASE_URL) return null;
  const client = new OpenAI({
    apiKey: config.OPENAI_API_KEY ?? 'not-needed', baseURL: config.OPENAI_BASE_URL, maxRetries: 0, timeout: config.OPENAI_TRANSCRIPTION_TIMEOUT_MS,
  });
  return {
    async transcribe(audio, language, prompt) {
      const started = Date.now();
      try {
        const result = await client.audio.transcriptions.create({
          file: await toFile(audio.bytes, audio.fileName, { type: audio.mimeType }),
          model: config.OPENAI_TRANSCRIPTION_MODEL,
          ...(language ? { language } : {}),
          ...(prompt ? { prompt } : {}),
        });
        const text = typeof result.text === 'string' ? result.text.trim() : '';
        return text ? { text, language } : null;
      } catch (err) {
        // The error's kind and status only: never the audio's words.
        logger.warn({ err_name: (err as Error).name, status: (err as { status?: number }).status, ms: Date.now() - started }, 'voice message not transcribed');
        return null;
      }
    },
  };
}
