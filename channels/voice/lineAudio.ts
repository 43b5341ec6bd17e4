/**
 * A line's phone audio (8 kHz mu-law) as it arrives from the speech service:
 * every line of a reply is asked for at once, the first is played while it
 * streams in, and the later ones gather meanwhile. The catalog's lines come
 * whole from the SpeechCache, synthesized once per service.
 */
import type { Speaker } from '../../lib/speech.js';
import { mulawEncode, StreamingResampler } from '../../lib/telephonyAudio.js';
import type { SpeechCache } from './speechCache.js';

export const PHONE_SAMPLE_RATE = 8000;

/** The line's speech, resampled and encoded for the phone as it arrives. */
async function* phoneAudio(speaker: Speaker, text: string): AsyncIterable<Buffer> {
  let resampler: StreamingResampler | null = null;
  for await (const pcm of speaker.stream(text)) {
    resampler ??= new StreamingResampler(pcm.sampleRate, PHONE_SAMPLE_RATE);
    yield mulawEncode(pcm.sampleRate === PHONE_SAMPLE_RATE ? pcm.samples : resampler.push(pcm.samples));
  }
  if (resampler) yield mulawEncode(resampler.flush());
}

async function collect(audio: AsyncIterable<Buffer>): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of audio) chunks.push(chunk);
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

/** One line's audio, read in order by the call while it is still arriving; `failed` once the service failed. */
export class LineAudio {
  private readonly chunks: Buffer[] = [];
  private done = false;
  private wake: (() => void) | null = null;
  failed = false;

  constructor(source: AsyncIterable<Buffer>) {
    void this.drain(source);
  }

  /** A line of the catalog's (the same for every caller): whole, from the cache. */
  static shared(cache: SpeechCache, speaker: Speaker, text: string): LineAudio {
    return new LineAudio((async function* cached() {
      const audio = await cache.get(text, () => collect(phoneAudio(speaker, text)));
      if (!audio) throw new Error('not synthesized');
      yield audio;
    })());
  }

  static spoken(speaker: Speaker, text: string): LineAudio {
    return new LineAudio(phoneAudio(speaker, text));
  }

  /** The audio in order as it arrives; ends early when the service failed (see `failed`). */
  async *read(): AsyncIterable<Buffer> {
    for (let i = 0; ; i++) {
      while (i >= this.chunks.length && !this.done) await new Promise<void>((resolve) => { this.wake = resolve; });
      if (i >= this.chunks.length) return;
      yield this.chunks[i]!;
    }
  }

  private async drain(source: AsyncIterable<Buffer>): Promise<void> {
    try {
      for await (const chunk of source) {
        if (chunk.length) this.chunks.push(chunk);
        this.wake?.();
      }
    } catch {
      this.failed = true;
    }
    this.done = true;
    this.wake?.();
  }
}
