/**
 * Synthetic audio for the telephony audio tests: tones, silence, seeded noise,
 * speech-like syllable bursts, and a Goertzel detector to measure how much of
 * one frequency survives a codec or resampler.
 */
import { concatSamples } from '../../lib/telephonyAudio.js';

/** Peak amplitude (0..1 of full scale) of a sine whose RMS level is `dbfs`. */
export function sineAmplitude(dbfs: number): number {
  return Math.SQRT2 * 10 ** (dbfs / 20);
}

function clampInt16(value: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(value)));
}

function samplesFor(ms: number, sampleRate: number): number {
  return Math.round((ms * sampleRate) / 1000);
}

/** A sine of `amplitude` (0..1 of full scale, 32767) lasting `ms`. */
export function tone(freqHz: number, ms: number, sampleRate: number, amplitude: number): Int16Array {
  const out = new Int16Array(samplesFor(ms, sampleRate));
  for (let i = 0; i < out.length; i++) out[i] = clampInt16(amplitude * 32767 * Math.sin((2 * Math.PI * freqHz * i) / sampleRate));
  return out;
}

export function silence(ms: number, sampleRate: number): Int16Array {
  return new Int16Array(samplesFor(ms, sampleRate));
}

/** Mulberry32: a tiny seeded PRNG, so noisy tests are repeatable. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** White Gaussian noise whose RMS level is `dbfs` (full scale 32768), the same for the same seed. */
export function noise(ms: number, sampleRate: number, dbfs: number, seed: number): Int16Array {
  const random = prng(seed);
  const rms = 32768 * 10 ** (dbfs / 20);
  const out = new Int16Array(samplesFor(ms, sampleRate));
  for (let i = 0; i < out.length; i++) {
    // Box-Muller; 1 - random() keeps the logarithm's argument above 0.
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    out[i] = clampInt16(gaussian * rms);
  }
  return out;
}

export const concat = concatSamples;

/** Sample-wise sum of two signals (clamped), as long as the longer one: speech over line noise. */
export function mix(a: Int16Array, b: Int16Array): Int16Array {
  const out = new Int16Array(Math.max(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = clampInt16((a[i] ?? 0) + (b[i] ?? 0));
  return out;
}

/**
 * Power of `freqHz` in `samples` (Goertzel), as (amplitude / 32768)^2 / 4:
 * a full-scale sine at that frequency gives about 0.25, silence 0. Exact when
 * the signal holds a whole number of cycles; close enough for long signals otherwise.
 */
export function goertzelPower(samples: Int16Array, sampleRate: number, freqHz: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * freqHz) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i]! / 32768 + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const magnitudeSquared = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return samples.length ? magnitudeSquared / (samples.length * samples.length) : 0;
}

/** A power ratio in decibels. */
export function powerDb(power: number): number {
  return 10 * Math.log10(power);
}

export interface SyllableOptions {
  sampleRate: number;
  /** RMS level of each syllable's steady part, in dBFS. */
  dbfs: number;
  count: number;
  syllableMs?: number;
  /** Silences between syllables, used in turn (so words and pauses between words can differ). */
  gapsMs?: number[];
  /** The voice's fundamental: each syllable is it plus two harmonics. */
  pitchHz?: number;
}

/**
 * Speech-like bursts: `count` syllables of ~150 ms (a voiced sound: a pitch
 * and two harmonics, 10 ms fade in and out) separated by short silences, as
 * the pauses inside and between spoken words. No silence after the last one.
 */
export function syllables(opts: SyllableOptions): Int16Array {
  const { sampleRate, dbfs, count, syllableMs = 150, gapsMs = [50], pitchHz = 180 } = opts;
  // Three equal partials: each at a third of the power makes the sum `dbfs`.
  const partialAmplitude = sineAmplitude(dbfs) / Math.sqrt(3);
  const fade = samplesFor(10, sampleRate);
  const parts: Int16Array[] = [];
  for (let s = 0; s < count; s++) {
    const length = samplesFor(syllableMs, sampleRate);
    const burst = new Int16Array(length);
    const pitch = pitchHz * (1 + 0.05 * (s % 3)); // intonation, so syllables are not identical
    for (let i = 0; i < length; i++) {
      const envelope = Math.min(1, i / fade, (length - 1 - i) / fade);
      let value = 0;
      for (let h = 1; h <= 3; h++) value += Math.sin((2 * Math.PI * pitch * h * i) / sampleRate);
      burst[i] = clampInt16(envelope * partialAmplitude * 32767 * value);
    }
    parts.push(burst);
    if (s < count - 1) parts.push(silence(gapsMs[s % gapsMs.length]!, sampleRate));
  }
  return concat(...parts);
}
