/**
 * Voice audio benchmark: what a phone call heard over a Media Stream
 * (VOICE_RECOGNITION=stream) costs this service, in process, beside a floor
 * measured in the same run.
 *
 * - Hearing: Twilio's 20 ms frames of a caller (recorded sentences between
 *   pauses, over line noise) read as the call does (channels/voice/
 *   streamProtocol.ts, lib/telephonyAudio.ts mulawDecode, lib/utterances.ts),
 *   against the floor any Media Streams server pays: JSON.parse and the
 *   base64 decoding of the same frames.
 * - Speaking: 24 kHz speech (what the speech service returns) resampled to
 *   8 kHz mu-law and sent as media messages, against the cheapest conversion
 *   (every third sample, which aliases) sent the same way.
 * - Memory: what one caller's end-pointer holds in the middle of 15 s of speech
 *   (its longest utterance).
 * The figures say how many calls one core hears and speaks to at once; the
 * speech service (network) and the engine's turns are not counted here.
 */
import { readFileSync } from 'node:fs';
import { parseTwilioStreamMessage } from '../channels/voice/streamProtocol.js';
import { concatSamples, mulawDecode, mulawEncode, resamplePcm16 } from '../lib/telephonyAudio.js';
import { UtteranceDetector } from '../lib/utterances.js';

const RATE = 8000;
const FRAME_BYTES = 160;
const CALL_SECONDS = 60;

/** A minute of a caller: the recorded sentence, then a pause, over -55 dBFS noise, as Twilio frames it. */
function callerFrames(): string[] {
  const sentence = mulawDecode(readFileSync(new URL('../test/fixtures/audio/caller-en.ulaw', import.meta.url)));
  const parts: Int16Array[] = [];
  let samples = 0;
  while (samples < CALL_SECONDS * RATE) {
    const pause = new Int16Array(RATE * 2);
    parts.push(sentence, pause);
    samples += sentence.length + pause.length;
  }
  const audio = concatSamples(...parts).subarray(0, CALL_SECONDS * RATE);
  let seed = 7;
  for (let i = 0; i < audio.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    audio[i] = Math.max(-32768, Math.min(32767, audio[i]! + Math.round(((seed / 0x7fffffff) - 0.5) * 100)));
  }
  const bytes = mulawEncode(audio);
  const frames: string[] = [];
  for (let at = 0, chunk = 1; at < bytes.length; at += FRAME_BYTES, chunk++) {
    frames.push(JSON.stringify({
      event: 'media', sequenceNumber: String(chunk + 1), streamSid: 'MZ00000000000000000000000000000000',
      media: { track: 'inbound', chunk: String(chunk), timestamp: String(chunk * 20), payload: bytes.subarray(at, at + FRAME_BYTES).toString('base64') },
    }));
  }
  return frames;
}

/** CPU microseconds `run` takes per second of call audio, the best of `repeats` (the first warms the JIT). */
function cpuPerAudioSecond(run: () => void, audioSeconds: number, repeats = 5): number {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const started = process.cpuUsage();
    run();
    const used = process.cpuUsage(started);
    best = Math.min(best, (used.user + used.system) / audioSeconds);
  }
  return best;
}

function hearing(): { ours: number; floor: number; utterances: number } {
  const frames = callerFrames();
  let utterances = 0;
  const ours = cpuPerAudioSecond(() => {
    const detector = new UtteranceDetector({ sampleRate: RATE });
    utterances = 0;
    for (const raw of frames) {
      const message = parseTwilioStreamMessage(raw);
      if (message?.event !== 'media') throw new Error('not a media frame');
      for (const event of detector.push(mulawDecode(message.payload))) if (event.type === 'utterance') utterances += 1;
    }
  }, CALL_SECONDS);
  let sink = 0;
  const floor = cpuPerAudioSecond(() => {
    for (const raw of frames) sink += Buffer.from((JSON.parse(raw) as { media: { payload: string } }).media.payload, 'base64').length;
  }, CALL_SECONDS);
  if (sink === 0) throw new Error('nothing decoded');
  return { ours, floor, utterances };
}

function speaking(): { ours: number; floor: number } {
  const seconds = 10;
  const speech = new Int16Array(24_000 * seconds);
  for (let i = 0; i < speech.length; i++) speech[i] = Math.round(8000 * Math.sin((2 * Math.PI * 180 * i) / 24_000) + 3000 * Math.sin((2 * Math.PI * 540 * i) / 24_000));
  const encoded = mulawEncode(resamplePcm16(speech, 24_000, RATE));
  let sent = 0;
  const send = (bytes: Buffer) => {
    for (let at = 0; at < bytes.length; at += RATE / 2) {
      sent += JSON.stringify({ event: 'media', streamSid: 'MZ0', media: { payload: bytes.subarray(at, at + RATE / 2).toString('base64') } }).length;
    }
  };
  // The floor: the cheapest conversion there is, every third sample (which lets everything above 4 kHz alias into the call).
  const decimated = () => {
    const out = new Int16Array(Math.floor(speech.length / 3));
    for (let i = 0; i < out.length; i++) out[i] = speech[i * 3]!;
    return out;
  };
  const ours = cpuPerAudioSecond(() => send(mulawEncode(resamplePcm16(speech, 24_000, RATE))), seconds);
  const floor = cpuPerAudioSecond(() => send(mulawEncode(decimated())), seconds);
  if (sent === 0 || encoded.length !== decimated().length) throw new Error('nothing sent, or not the same length');
  return { ours, floor };
}

/** Heap one caller's end-pointer holds 14 s into an unbroken 15 s utterance (the sentence said again and again), over 100 callers. */
function memoryPerCaller(): number {
  const sentence = mulawDecode(readFileSync(new URL('../test/fixtures/audio/caller-en.ulaw', import.meta.url)));
  const speech = concatSamples(...Array.from({ length: Math.ceil((14 * RATE) / sentence.length) }, () => sentence)).subarray(0, 14 * RATE);
  global.gc?.();
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const detectors = Array.from({ length: 100 }, () => {
    const d = new UtteranceDetector({ sampleRate: RATE });
    for (let at = 0; at < speech.length; at += FRAME_BYTES) d.push(speech.subarray(at, at + FRAME_BYTES));
    return d;
  });
  global.gc?.();
  const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  if (!detectors.every((d) => d.inSpeech)) throw new Error('the callers stopped speaking');
  return (after - before) / detectors.length;
}

export function runVoiceAudioBenchmark(): void {
  const heard = hearing();
  console.log(`  hearing a caller (${CALL_SECONDS} s, ${heard.utterances} utterances): ${heard.ours.toFixed(0)} µs CPU per second of audio; `
    + `floor (JSON + base64 of the frames) ${heard.floor.toFixed(0)} µs; ratio ${(heard.floor / heard.ours).toFixed(2)}x; one core hears ${Math.floor(1e6 / heard.ours)} callers at once`);
  const spoken = speaking();
  console.log(`  speaking (24 kHz speech to 8 kHz mu-law frames): ${spoken.ours.toFixed(0)} µs CPU per second of speech; `
    + `floor (every third sample, aliased) ${spoken.floor.toFixed(0)} µs; ratio ${(spoken.floor / spoken.ours).toFixed(2)}x; one core speaks to ${Math.floor(1e6 / spoken.ours)} callers at once`);
  const bytes = memoryPerCaller();
  console.log(`  memory: ${(bytes / 1024).toFixed(0)} KiB held per caller 14 s into a 15 s utterance (the end-pointer's longest)${global.gc ? '' : ' (without --expose-gc: approximate)'}`);
}
