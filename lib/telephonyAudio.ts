/**
 * Audio for phone calls (Twilio Media Streams): G.711 mu-law at 8000 Hz mono
 * on the line, 16-bit PCM WAV to and from the speech services. Standard DSP,
 * written here so the call path has no native or codec dependency.
 */

/** Mu-law's bias: added before finding the segment so small values have one. */
const MULAW_BIAS = 0x84;
/** The largest magnitude mu-law can carry once biased (32635 + 0x84 fits 15 bits). */
const MULAW_CLIP = 32635;

/** Every mu-law byte's linear value, built once: decoding is then a lookup. */
const MULAW_TABLE: Int16Array = buildMulawTable();

function decodeMulawByte(byte: number): number {
  // The line carries the bits inverted (so silence is not a run of zeros).
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

function buildMulawTable(): Int16Array {
  const table = new Int16Array(256);
  for (let byte = 0; byte < 256; byte++) table[byte] = decodeMulawByte(byte);
  return table;
}

/** ITU-T G.711 mu-law bytes to linear 16-bit samples. */
export function mulawDecode(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = MULAW_TABLE[bytes[i]!]!;
  return out;
}

function encodeMulawSample(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(sign ? -sample : sample, MULAW_CLIP) + MULAW_BIAS;
  // The segment is the position of the highest set bit above bit 7 (0..7).
  const exponent = Math.max(0, 31 - Math.clz32(magnitude) - 7);
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  magnitude = sign | (exponent << 4) | mantissa;
  return ~magnitude & 0xff;
}

/** Linear 16-bit samples to ITU-T G.711 mu-law bytes (bias 0x84, clipped at 32635, bits inverted). */
export function mulawEncode(samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encodeMulawSample(samples[i]!);
  return out;
}

/** Sinc zero crossings on each side of the resampling kernel: sharp enough, cheap enough. */
const RESAMPLE_ZERO_CROSSINGS = 16;
/** The cut-off, as a fraction of the lower Nyquist frequency: the transition band must end before it. */
const RESAMPLE_CUTOFF = 0.9;

function greatestCommonDivisor(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function assertRate(rate: number, name: string): void {
  if (!Number.isInteger(rate) || rate <= 0) throw new RangeError(`${name} must be a positive whole number of Hz, not ${rate}`);
}

/** Blackman window over [-1, 1]: -58 dB side lobes, plenty for 8-bit-ish mu-law. */
function blackman(u: number): number {
  return 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
}

/**
 * One phase of the windowed-sinc kernel: the weights of input samples
 * first..first+taps-1 for an output that falls `fraction` of a sample after
 * input `first + half - 1`. Normalised to sum 1 so DC (and near it) passes at unit gain.
 */
function kernelPhase(fraction: number, half: number, cutoff: number, halfWidth: number): Float64Array {
  const weights = new Float64Array(2 * half);
  let sum = 0;
  for (let j = 0; j < weights.length; j++) {
    const x = j - half + 1 - fraction; // distance in input samples
    if (Math.abs(x) >= halfWidth) continue;
    const arg = 2 * cutoff * x;
    const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
    weights[j] = 2 * cutoff * sinc * blackman(x / halfWidth);
    sum += weights[j]!;
  }
  for (let j = 0; j < weights.length; j++) weights[j] /= sum;
  return weights;
}

/**
 * Band-limited resampling of 16-bit mono PCM (windowed sinc, Blackman window,
 * 16 zero crossings a side), low-passed at 0.9 x the lower Nyquist frequency
 * so downsampling (24000 -> 8000) does not fold high frequencies into the
 * band. Rates are whole Hz, any ratio. Output length is round(input length x
 * toRate / fromRate); outside the input is taken as silence; results are
 * rounded and clamped to int16.
 */
export function resamplePcm16(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  assertRate(fromRate, 'fromRate');
  assertRate(toRate, 'toRate');
  if (fromRate === toRate) return samples.slice();
  const resampler = new StreamingResampler(fromRate, toRate);
  return concatSamples(resampler.push(samples), resampler.flush());
}

/** Kernel phases kept per resampler at most (an odd pair of rates can have thousands; the rest are computed each time). */
const MAX_CACHED_PHASES = 4096;

/**
 * The same resampling as resamplePcm16, fed in pieces as they arrive (speech
 * streamed from the speech service): each output is computed once every
 * input its kernel spans is known, and flush() computes the rest with
 * silence after the end. Pushing the pieces then flushing gives exactly what
 * resamplePcm16 gives for the whole. The kernel has one phase per distinct
 * position of an output between inputs (toRate / gcd of the rates), each
 * computed once on first use, so the inner loop is plain multiply-adds.
 */
export class StreamingResampler {
  private readonly step: number;
  private readonly phases: number;
  private readonly cutoff: number;
  private readonly halfWidth: number;
  private readonly half: number;
  private readonly kernels: (Float64Array | undefined)[] = [];
  /** Input still needed, starting at absolute input index `bufferStart`. */
  private buffer: Int16Array = new Int16Array(0);
  private bufferStart = 0;
  private received = 0;
  /** The next output's index. */
  private next = 0;

  constructor(fromRate: number, toRate: number) {
    assertRate(fromRate, 'fromRate');
    assertRate(toRate, 'toRate');
    const gcd = greatestCommonDivisor(fromRate, toRate);
    this.step = fromRate / gcd; // input advance per output, in 1/phases of a sample
    this.phases = toRate / gcd;
    this.cutoff = (RESAMPLE_CUTOFF * Math.min(fromRate, toRate)) / 2 / fromRate; // cycles per input sample
    this.halfWidth = RESAMPLE_ZERO_CROSSINGS / (2 * this.cutoff); // in input samples
    this.half = Math.ceil(this.halfWidth);
  }

  /** The outputs these samples complete. */
  push(samples: Int16Array): Int16Array {
    this.buffer = this.buffer.length ? concatSamples(this.buffer, samples) : samples.slice();
    this.received += samples.length;
    // Output n needs inputs up to floor(n x step / phases) + half.
    return this.produce((n) => Math.floor((n * this.step) / this.phases) + this.half < this.received, Math.ceil(((this.received - this.half) * this.phases) / this.step) + 1);
  }

  /** The remaining outputs, silence taken after the last input. */
  flush(): Int16Array {
    const total = Math.round((this.received * this.phases) / this.step);
    return this.produce((n) => n < total, total);
  }

  /** The outputs from `next` on while `ready`, none past `until` (an upper bound of the ready ones). */
  private produce(ready: (n: number) => boolean, until: number): Int16Array {
    const out = new Int16Array(Math.max(0, until - this.next));
    let count = 0;
    for (; this.next < until && ready(this.next); this.next++) {
      const position = this.next * this.step; // exact: output n sits at input position / phases
      const whole = Math.floor(position / this.phases);
      const phase = position - whole * this.phases;
      let weights = this.kernels[phase];
      if (!weights) {
        weights = kernelPhase(phase / this.phases, this.half, this.cutoff, this.halfWidth);
        if (phase < MAX_CACHED_PHASES) this.kernels[phase] = weights;
      }
      const first = whole - this.half + 1 - this.bufferStart;
      const jStart = Math.max(0, -first - this.bufferStart);
      const jEnd = Math.min(weights.length, this.buffer.length - first);
      let acc = 0;
      for (let j = jStart; j < jEnd; j++) acc += weights[j]! * this.buffer[first + j]!;
      out[count++] = clampInt16(Math.round(acc));
    }
    // Inputs before the next output's kernel are done with.
    const keepFrom = Math.floor((this.next * this.step) / this.phases) - this.half + 1;
    if (keepFrom > this.bufferStart) {
      this.buffer = this.buffer.subarray(Math.min(this.buffer.length, keepFrom - this.bufferStart));
      this.bufferStart = keepFrom;
    }
    return out.subarray(0, count);
  }
}

function clampInt16(value: number): number {
  return value > 32767 ? 32767 : value < -32768 ? -32768 : value;
}

/** Mono 16-bit PCM and its rate. */
export interface PcmAudio { sampleRate: number; samples: Int16Array }

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** A data chunk's size a streaming writer leaves when it cannot know the length. */
const STREAMED_SIZE = 0xffffffff;

interface WavFormat { format: number; channels: number; sampleRate: number; bitsPerSample: number }

function readFmtChunk(bytes: Buffer, start: number, size: number): WavFormat {
  if (size < 16) throw new TypeError('WAV fmt chunk is too short');
  let format = bytes.readUInt16LE(start);
  // Extensible: the real format code is the first two bytes of the subformat GUID.
  if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40) format = bytes.readUInt16LE(start + 24);
  return {
    format,
    channels: bytes.readUInt16LE(start + 2),
    sampleRate: bytes.readUInt32LE(start + 4),
    bitsPerSample: bytes.readUInt16LE(start + 14),
  };
}

/** The frames of interleaved 16-bit samples, averaged across channels. */
function mixToMono(bytes: Buffer, start: number, length: number, channels: number): Int16Array {
  const frameBytes = 2 * channels;
  const frames = Math.floor(length / frameBytes);
  const out = new Int16Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    const offset = start + f * frameBytes;
    for (let c = 0; c < channels; c++) sum += bytes.readInt16LE(offset + 2 * c);
    out[f] = Math.round(sum / channels);
  }
  return out;
}

/**
 * A RIFF/WAVE file's 16-bit PCM, mixed down to mono: the file read at once by
 * a WavStreamReader (LIST and other chunks skipped, odd sizes padded; a data
 * chunk sized 0, 0xFFFFFFFF or past the end of the file runs to the end).
 * Throws a TypeError naming the problem for anything else.
 */
export function readWav(bytes: Buffer): PcmAudio {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    throw new TypeError('not a WAV file');
  }
  const reader = new WavStreamReader();
  const samples = reader.push(bytes);
  if (reader.sampleRate === null) throw new TypeError(reader.sawFmt ? 'WAV has no data chunk' : 'WAV has no fmt chunk');
  return { sampleRate: reader.sampleRate, samples };
}

/**
 * A WAV file read as it arrives (speech streamed from the speech service):
 * push() takes the bytes received so far and gives the mono samples they
 * complete, once the header is in. The rate is known from then on. A data
 * chunk sized 0 or 0xFFFFFFFF (written while streaming) runs to the end; and
 * anything but 16-bit PCM is a TypeError.
 */
export class WavStreamReader {
  private header: Buffer = Buffer.alloc(0);
  private format: WavFormat | null = null;
  /** Data bytes still expected (Infinity: to the end), and bytes of an unfinished frame. */
  private dataLeft = 0;
  private carry: Buffer = Buffer.alloc(0);
  /** Whether the header read so far has a whole fmt chunk (readWav's error tells which chunk is missing). */
  sawFmt = false;

  get sampleRate(): number | null {
    return this.format?.sampleRate ?? null;
  }

  push(bytes: Buffer): Int16Array {
    if (!this.format) {
      this.header = Buffer.concat([this.header, bytes]);
      const start = this.dataStart();
      if (start === null) return new Int16Array(0);
      bytes = this.header.subarray(start);
      this.header = Buffer.alloc(0);
    }
    const take = bytes.subarray(0, Math.min(bytes.length, this.dataLeft));
    this.dataLeft -= take.length;
    const pending = this.carry.length ? Buffer.concat([this.carry, take]) : take;
    const frameBytes = 2 * this.format!.channels;
    const whole = pending.length - (pending.length % frameBytes);
    this.carry = Buffer.from(pending.subarray(whole));
    return mixToMono(pending, 0, whole, this.format!.channels);
  }

  /** Where the data starts in the header read so far, once the fmt and data chunk headers are in; null before. */
  private dataStart(): number | null {
    const h = this.header;
    if (h.length < 12) return null;
    if (h.toString('latin1', 0, 4) !== 'RIFF' || h.toString('latin1', 8, 12) !== 'WAVE') throw new TypeError('not a WAV file');
    let fmt: WavFormat | null = null;
    for (let offset = 12; offset + 8 <= h.length;) {
      const id = h.toString('latin1', offset, offset + 4);
      const size = h.readUInt32LE(offset + 4);
      const start = offset + 8;
      if (id === 'data') {
        if (!fmt) throw new TypeError('WAV has no fmt chunk');
        if (fmt.format !== WAVE_FORMAT_PCM || fmt.bitsPerSample !== 16) {
          throw new TypeError(`WAV is not 16-bit PCM (format ${fmt.format}, ${fmt.bitsPerSample} bits)`);
        }
        if (!fmt.channels || !fmt.sampleRate) throw new TypeError('WAV has no channels or no sample rate');
        this.format = fmt;
        this.dataLeft = size === 0 || size === STREAMED_SIZE ? Infinity : size;
        return start;
      }
      if (start + size > h.length) return null;
      if (id === 'fmt ') {
        fmt = readFmtChunk(h, start, size);
        this.sawFmt = true;
      }
      offset = start + size + (size & 1);
    }
    return null;
  }
}

/** Mono 16-bit PCM as a WAV file with the canonical 44-byte header. */
export function pcm16ToWav(samples: Int16Array, sampleRate: number): Buffer {
  const dataLength = samples.length * 2;
  const wav = Buffer.alloc(44 + dataLength);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + dataLength, 4);
  wav.write('WAVE', 8, 'latin1');
  wav.write('fmt ', 12, 'latin1');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  wav.writeUInt16LE(1, 22); // channels
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28); // bytes per second
  wav.writeUInt16LE(2, 32); // bytes per frame
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(dataLength, 40);
  for (let i = 0; i < samples.length; i++) wav.writeInt16LE(samples[i]!, 44 + 2 * i);
  return wav;
}

/**
 * RMS level of samples[start, end) in dBFS, full scale 32768 (a full-scale
 * sine is about -3 dBFS). Digital silence, or an empty range, is -Infinity:
 * compare with it freely, but clamp before averaging.
 */
export function levelDbfs(samples: Int16Array, start = 0, end = samples.length): number {
  const from = Math.max(0, start);
  const to = Math.min(samples.length, end);
  let sumSquares = 0;
  for (let i = from; i < to; i++) sumSquares += samples[i]! * samples[i]!;
  if (to <= from || sumSquares === 0) return -Infinity;
  return 10 * Math.log10(sumSquares / (to - from) / (32768 * 32768));
}

/** How long `samples` samples last at `sampleRate`, in (fractional) milliseconds. */
export function durationMs(samples: number, sampleRate: number): number {
  return (samples * 1000) / sampleRate;
}

/** The parts one after another, in a new array. */
export function concatSamples(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
