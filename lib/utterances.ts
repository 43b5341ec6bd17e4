/**
 * End-pointing for phone calls: turns the caller's continuous 8 kHz audio into
 * utterances to transcribe, by energy against an adaptive noise floor. Driven
 * only by the audio's own timeline (sample counts), never the wall clock, so
 * the same audio gives the same utterances however fast or in whatever chunks
 * it arrives.
 */
import { concatSamples, durationMs, levelDbfs } from './telephonyAudio.js';

export interface UtteranceDetectorOptions {
  /** 8000 for Twilio. */
  sampleRate: number;
  /** Default 120: voiced time that declares speech started, counted within a window a third longer (6 of the last 8 blocks by default). */
  startSpeechMs?: number;
  /** Default 700: unvoiced time after speech that ends the utterance. */
  endSilenceMs?: number;
  /** Default 250: an utterance with less voiced time is dropped (cough, click). */
  minSpeechMs?: number;
  /** Default 15000: an utterance's audio (pre-roll included) is cut (emitted) at this length. */
  maxUtteranceMs?: number;
  /** Default 200: audio kept from before the start so the first syllable is not clipped. */
  preRollMs?: number;
  /** Default -45: a block is never voiced below this level. */
  minLevelDbfs?: number;
  /** Default 12: a block is voiced when above noise floor + margin (and above minLevelDbfs). */
  marginDb?: number;
}

/**
 * Times are on the audio timeline, in ms from the first sample pushed.
 * `startMs` is where speech started (the first voiced block), `endMs` where it
 * ended (the end of the last voiced block, or the cut); `samples` run from
 * up to preRollMs before startMs to a little (160 ms) after endMs.
 * `speechMs` is the voiced time.
 */
export type UtteranceEvent =
  | { type: 'speech-start'; atMs: number }
  | { type: 'utterance'; samples: Int16Array; startMs: number; endMs: number; speechMs: number; cut: boolean }
  | { type: 'dropped'; startMs: number; endMs: number; speechMs: number };

/** Analysis block: the length of one Twilio media message. */
const BLOCK_MS = 20;
/** Audio kept after the last voiced block: the fading end of the last word. */
const TRAILING_MS = 160;
/** How fast the noise floor may rise, in dB per second of audio: slow, so speech does not raise it much. */
const FLOOR_RISE_DB_PER_S = 3;
/** The fraction of the way the floor falls toward a quieter block: fast, so it finds the line's noise in the pauses. */
const FLOOR_FALL = 0.3;
/** The floor never rises above this: a line louder than that is unusable, and speech must still be able to beat it. */
const FLOOR_MAX_DBFS = -20;

interface Block { samples: Int16Array; voiced: boolean; index: number }

interface Speech {
  /** Blocks from the pre-roll on, each kept until the utterance ends. */
  blocks: Block[];
  /** Timeline block index where speech started (or the cut it continues from). */
  startIndex: number;
  /** Index (into blocks) of the last voiced block, or -1. */
  lastVoicedAt: number;
  voicedBlocks: number;
  /** Unvoiced blocks since the last voiced one. */
  unvoicedRun: number;
}

function positiveNumber(value: number | undefined, fallback: number, name: string): number {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result < 0) throw new RangeError(`${name} must be a number of at least 0, not ${value}`);
  return result;
}

export class UtteranceDetector {
  private readonly sampleRate: number;
  private readonly blockSamples: number;
  private readonly startBlocks: number;
  private readonly startWindow: number;
  private readonly endSilenceBlocks: number;
  private readonly minSpeechMs: number;
  private readonly maxBlocks: number;
  private readonly preRollBlocks: number;
  private readonly trailingBlocks: number;
  private readonly minLevelDbfs: number;
  private readonly marginDb: number;
  private readonly floorRisePerBlock: number;

  /** Samples waiting for a whole block. */
  private pending: Int16Array = new Int16Array(0);
  /** Blocks processed since construction: the audio timeline. */
  private blockCount = 0;
  /** Recent blocks while not in speech: the start window plus the pre-roll before it. */
  private recent: Block[] = [];
  private speech: Speech | null = null;
  private noiseFloorDbfs: number;
  /** Block index after which silence is counted (the last voiced block's end, or a (re)start). */
  private silentSince = 0;

  constructor(opts: UtteranceDetectorOptions) {
    if (!Number.isFinite(opts.sampleRate) || opts.sampleRate < 1000) throw new RangeError(`sampleRate must be at least 1000 Hz, not ${opts.sampleRate}`);
    this.sampleRate = opts.sampleRate;
    this.blockSamples = Math.round((opts.sampleRate * BLOCK_MS) / 1000);
    const blocks = (ms: number) => Math.ceil(ms / BLOCK_MS);
    this.startBlocks = Math.max(1, blocks(positiveNumber(opts.startSpeechMs, 120, 'startSpeechMs')));
    this.startWindow = this.startBlocks + Math.ceil(this.startBlocks / 3);
    this.endSilenceBlocks = Math.max(1, blocks(positiveNumber(opts.endSilenceMs, 700, 'endSilenceMs')));
    this.minSpeechMs = positiveNumber(opts.minSpeechMs, 250, 'minSpeechMs');
    this.preRollBlocks = blocks(positiveNumber(opts.preRollMs, 200, 'preRollMs'));
    // At least the pre-roll and the start window, so a cut always leaves room for speech.
    this.maxBlocks = Math.max(this.preRollBlocks + this.startWindow + 1, Math.floor(positiveNumber(opts.maxUtteranceMs, 15000, 'maxUtteranceMs') / BLOCK_MS));
    this.trailingBlocks = blocks(TRAILING_MS);
    this.minLevelDbfs = opts.minLevelDbfs ?? -45;
    this.marginDb = positiveNumber(opts.marginDb, 12, 'marginDb');
    this.floorRisePerBlock = (FLOOR_RISE_DB_PER_S * BLOCK_MS) / 1000;
    this.noiseFloorDbfs = this.minFloor();
  }

  /** Any number of samples (not necessarily a multiple of 20 ms); processed in 20 ms blocks internally, keeping the remainder. */
  push(samples: Int16Array): UtteranceEvent[] {
    const events: UtteranceEvent[] = [];
    const audio = this.pending.length ? concatSamples(this.pending, samples) : samples;
    let offset = 0;
    for (; offset + this.blockSamples <= audio.length; offset += this.blockSamples) {
      // A copy: the caller may reuse its buffer, and utterances keep blocks for seconds.
      this.processBlock(audio.slice(offset, offset + this.blockSamples), events);
    }
    this.pending = audio.slice(offset);
    return events;
  }

  /** Audio ms since the last voiced block (or since construction / reset), for "the caller has said nothing for N seconds". Whole blocks only. */
  get silentMs(): number {
    return this.blocksMs(this.blockCount - this.silentSince);
  }

  /** True between speech-start and the utterance's end. */
  get inSpeech(): boolean {
    return this.speech !== null;
  }

  /** Audio ms processed in all (whole blocks; a remainder shorter than a block waits for the next push). */
  get positionMs(): number {
    return this.blocksMs(this.blockCount);
  }

  /** Forget any speech in progress and restart the silence count (after the bot starts listening again); keeps the noise floor. */
  reset(): void {
    this.speech = null;
    // The pre-roll too: audio from before the reset (the bot's own voice echoing) must not start the next utterance.
    this.recent = [];
    this.silentSince = this.blockCount;
  }

  /** Below this the floor does not matter: minLevelDbfs decides alone. */
  private minFloor(): number {
    return this.minLevelDbfs - this.marginDb;
  }

  private blocksMs(blocks: number): number {
    return durationMs(blocks * this.blockSamples, this.sampleRate);
  }

  private processBlock(samples: Int16Array, events: UtteranceEvent[]): void {
    const level = levelDbfs(samples);
    // Judged against the floor learnt from earlier audio, then the floor learns from this block.
    const voiced = level >= this.minLevelDbfs && level >= this.noiseFloorDbfs + this.marginDb;
    this.updateNoiseFloor(level);
    const block: Block = { samples, voiced, index: this.blockCount };
    this.blockCount += 1;
    if (voiced) this.silentSince = this.blockCount;
    if (this.speech) this.continueSpeech(this.speech, block, events);
    else this.awaitSpeech(block, events);
  }

  /**
   * Slow attack, fast decay: the floor falls quickly to a quieter block (the
   * line's noise shows in every pause) and rises only a few dB a second
   * toward a louder one, so steady noise is learnt within seconds while
   * speech, broken by pauses, hardly moves it.
   */
  private updateNoiseFloor(level: number): void {
    const floor = this.noiseFloorDbfs;
    const target = Math.max(level, this.minFloor()); // digital silence is -Infinity
    const next = target < floor ? floor + (target - floor) * FLOOR_FALL : Math.min(target, floor + this.floorRisePerBlock);
    this.noiseFloorDbfs = Math.min(FLOOR_MAX_DBFS, Math.max(this.minFloor(), next));
  }

  private awaitSpeech(block: Block, events: UtteranceEvent[]): void {
    this.recent.push(block);
    if (this.recent.length > this.startWindow + this.preRollBlocks) this.recent.shift();
    const window = this.recent.slice(-this.startWindow);
    const voicedBlocks = window.filter((b) => b.voiced).length;
    if (voicedBlocks < this.startBlocks) return;
    // Speech started at the window's first voiced block, not when enough of them were heard.
    const firstVoiced = this.recent.length - window.length + window.findIndex((b) => b.voiced);
    const from = Math.max(0, firstVoiced - this.preRollBlocks);
    const blocks = this.recent.slice(from);
    const speech: Speech = { blocks, startIndex: this.recent[firstVoiced]!.index, lastVoicedAt: blocks.length - 1, voicedBlocks, unvoicedRun: 0 };
    this.speech = speech;
    this.recent = [];
    events.push({ type: 'speech-start', atMs: this.blocksMs(speech.startIndex) });
    this.cutIfTooLong(speech, events);
  }

  private continueSpeech(speech: Speech, block: Block, events: UtteranceEvent[]): void {
    speech.blocks.push(block);
    if (block.voiced) {
      speech.voicedBlocks += 1;
      speech.lastVoicedAt = speech.blocks.length - 1;
      speech.unvoicedRun = 0;
    } else {
      speech.unvoicedRun += 1;
    }
    if (speech.unvoicedRun >= this.endSilenceBlocks) {
      events.push(this.finish(speech, false));
      this.speech = null;
      // The end silence (never the speech before it) becomes the next pre-roll, as if never in speech.
      this.recent = speech.blocks.slice(Math.max(speech.lastVoicedAt + 1, speech.blocks.length - this.startWindow - this.preRollBlocks));
      return;
    }
    this.cutIfTooLong(speech, events);
  }

  /** At maxUtteranceMs of audio: emit what there is and carry on at once with a new utterance. */
  private cutIfTooLong(speech: Speech, events: UtteranceEvent[]): void {
    if (speech.blocks.length < this.maxBlocks) return;
    events.push(this.finish(speech, true));
    const cutAt = speech.blocks[speech.blocks.length - 1]!.index + 1;
    // No pre-roll: the audio before the cut was just emitted. The end-silence count carries on.
    this.speech = { blocks: [], startIndex: cutAt, lastVoicedAt: -1, voicedBlocks: 0, unvoicedRun: speech.unvoicedRun };
    events.push({ type: 'speech-start', atMs: this.blocksMs(cutAt) });
  }

  private finish(speech: Speech, cut: boolean): UtteranceEvent {
    const startMs = this.blocksMs(speech.startIndex);
    const lastAt = cut ? speech.blocks.length - 1 : speech.lastVoicedAt;
    const endMs = lastAt >= 0 ? this.blocksMs(speech.blocks[lastAt]!.index + 1) : startMs;
    const speechMs = this.blocksMs(speech.voicedBlocks);
    if (speechMs < this.minSpeechMs || lastAt < 0) return { type: 'dropped', startMs, endMs, speechMs };
    const keep = cut ? speech.blocks.length : Math.min(speech.blocks.length, lastAt + 1 + this.trailingBlocks);
    const samples = concatSamples(...speech.blocks.slice(0, keep).map((b) => b.samples));
    return { type: 'utterance', samples, startMs, endMs, speechMs, cut };
  }
}
