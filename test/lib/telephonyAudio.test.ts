import assert from 'node:assert/strict';
import {
  durationMs, levelDbfs, mulawDecode, mulawEncode, pcm16ToWav, readWav, resamplePcm16, StreamingResampler, WavStreamReader,
} from '../../lib/telephonyAudio.js';
import { concat, goertzelPower, noise, powerDb, silence, tone } from '../support/audioSignals.js';

/** A chunk: 4-character id, little-endian size (or the size field given), body, pad byte when odd. */
function chunk(id: string, body: Buffer, sizeField = body.length): Buffer {
  const header = Buffer.alloc(8);
  header.write(id, 0, 'latin1');
  header.writeUInt32LE(sizeField, 4);
  return Buffer.concat([header, body, Buffer.alloc(body.length & 1)]);
}

function riff(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  const header = Buffer.alloc(8);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(body.length, 4);
  return Buffer.concat([header, body]);
}

interface FmtFields { format?: number; channels?: number; sampleRate?: number; bits?: number; subformat?: number }

/** A fmt chunk; with `subformat` it is WAVE_FORMAT_EXTENSIBLE (40 bytes) carrying that format code. */
function fmtChunk({ format = 1, channels = 1, sampleRate = 8000, bits = 16, subformat }: FmtFields): Buffer {
  const body = Buffer.alloc(subformat === undefined ? 16 : 40);
  body.writeUInt16LE(subformat === undefined ? format : 0xfffe, 0);
  body.writeUInt16LE(channels, 2);
  body.writeUInt32LE(sampleRate, 4);
  body.writeUInt32LE((sampleRate * channels * bits) / 8, 8);
  body.writeUInt16LE((channels * bits) / 8, 12);
  body.writeUInt16LE(bits, 14);
  if (subformat !== undefined) {
    body.writeUInt16LE(22, 16); // extension size
    body.writeUInt16LE(bits, 18); // valid bits
    body.writeUInt32LE(channels === 2 ? 3 : 4, 20); // channel mask
    body.writeUInt16LE(subformat, 24);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(body, 26);
  }
  return chunk('fmt ', body);
}

function pcmBytes(samples: Int16Array): Buffer {
  const bytes = Buffer.alloc(samples.length * 2);
  samples.forEach((sample, i) => bytes.writeInt16LE(sample, 2 * i));
  return bytes;
}

/** Interleaves channels sample by sample (all the same length). */
function interleave(...channels: Int16Array[]): Int16Array {
  const out = new Int16Array(channels[0]!.length * channels.length);
  for (let i = 0; i < channels[0]!.length; i++) channels.forEach((channel, c) => { out[i * channels.length + c] = channel[i]!; });
  return out;
}

describe('telephony audio (lib/telephonyAudio)', () => {
  describe('mu-law', () => {
    it('decodes the G.711 reference codes: 0xFF and 0x7F to 0, 0x00 to -32124, 0x80 to 32124', () => {
      assert.deepEqual(Array.from(mulawDecode(Uint8Array.from([0xff, 0x7f, 0x00, 0x80]))), [0, 0, -32124, 32124]);
    });

    it('decodes the positive codes to rising values and each negative code to its mirror', () => {
      const all = mulawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
      for (let code = 0xfe; code >= 0x80; code--) assert.ok(all[code]! > all[code + 1]!, `code ${code.toString(16)}`);
      for (let code = 0x80; code <= 0xff; code++) assert.equal(all[code & 0x7f], -all[code]! || 0);
    });

    it('encodes silence as 0xFF and clips the extremes to the outermost codes', () => {
      assert.deepEqual([...mulawEncode(Int16Array.of(0, 32767, -32768, 32635, -32635))], [0xff, 0x80, 0x00, 0x80, 0x00]);
    });

    it('round-trips every int16 value within half a quantization step of its segment', () => {
      const all = new Int16Array(65536);
      for (let i = 0; i < all.length; i++) all[i] = i - 32768;
      const back = mulawDecode(mulawEncode(all));
      let worstSmall = 0;
      for (let i = 0; i < all.length; i++) {
        const error = Math.abs(back[i]! - all[i]!);
        // A segment's step is 2^(e+3) for biased magnitudes from 2^(e+7): half of it is at most (|x| + 0x84) / 32.
        assert.ok(error <= (Math.abs(all[i]!) + 0x84) / 32, `${all[i]} came back as ${back[i]}`);
        if (Math.abs(all[i]!) < 100) worstSmall = Math.max(worstSmall, error);
      }
      assert.ok(worstSmall <= 4, `small values err by up to ${worstSmall}`);
    });

    it('re-encodes every decoded code to a code with the same value', () => {
      const decoded = mulawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
      assert.deepEqual(mulawDecode(mulawEncode(decoded)), decoded);
    });

    it('keeps a 1 kHz tone through encode and decode, with the coding noise over 30 dB below it', () => {
      const input = tone(1000, 1000, 8000, 0.5);
      const output = mulawDecode(mulawEncode(input));
      const error = output.map((value, i) => value - input[i]!);
      assert.ok(Math.abs(powerDb(goertzelPower(output, 8000, 1000)) - powerDb(goertzelPower(input, 8000, 1000))) < 0.1);
      assert.ok(levelDbfs(error) < levelDbfs(input) - 30, `noise at ${levelDbfs(error).toFixed(1)} dBFS`);
      assert.ok(goertzelPower(output, 8000, 2500) < goertzelPower(output, 8000, 1000) / 1000);
    });
  });

  describe('resamplePcm16', () => {
    it('downsamples a 440 Hz tone from 24000 to 8000 Hz to a third of the length at the same power', () => {
      const input = tone(440, 1000, 24000, 0.5);
      const output = resamplePcm16(input, 24000, 8000);
      assert.equal(output.length, input.length / 3);
      const lossDb = powerDb(goertzelPower(input, 24000, 440)) - powerDb(goertzelPower(output, 8000, 440));
      assert.ok(Math.abs(lossDb) < 0.2, `440 Hz changed by ${lossDb.toFixed(2)} dB`);
    });

    it('filters out a 6000 Hz tone when downsampling 24000 -> 8000 instead of folding it to 2000 Hz', () => {
      const input = tone(6000, 1000, 24000, 0.5);
      const output = resamplePcm16(input, 24000, 8000);
      assert.ok(levelDbfs(output) < levelDbfs(input) - 30, `output at ${levelDbfs(output).toFixed(1)} dBFS`);
      const aliasDb = powerDb(goertzelPower(output, 8000, 2000)) - powerDb(goertzelPower(input, 24000, 6000));
      assert.ok(aliasDb < -30, `alias at ${aliasDb.toFixed(1)} dB`);
    });

    for (const fromRate of [22050, 16000, 44100]) {
      it(`downsamples ${fromRate} -> 8000 Hz to round(length x 8000 / ${fromRate}) and keeps a 1 kHz tone`, () => {
        const input = tone(1000, 1003, fromRate, 0.3);
        const output = resamplePcm16(input, fromRate, 8000);
        assert.equal(output.length, Math.round((input.length * 8000) / fromRate));
        const lossDb = powerDb(goertzelPower(input, fromRate, 1000)) - powerDb(goertzelPower(output, 8000, 1000));
        assert.ok(Math.abs(lossDb) < 0.2, `1 kHz changed by ${lossDb.toFixed(2)} dB`);
      });
    }

    it('resamples a ratio whose kernel phases outnumber the output (8000 -> 7993 Hz) just as well', () => {
      const input = tone(1000, 500, 8000, 0.5);
      const output = resamplePcm16(input, 8000, 7993);
      assert.equal(output.length, Math.round((input.length * 7993) / 8000));
      const lossDb = powerDb(goertzelPower(input, 8000, 1000)) - powerDb(goertzelPower(output, 7993, 1000));
      assert.ok(Math.abs(lossDb) < 0.2, `1 kHz changed by ${lossDb.toFixed(2)} dB`);
    });

    it('upsamples 8000 -> 16000 Hz keeping a 1 kHz tone and adding no image at 7 kHz', () => {
      const input = tone(1000, 1000, 8000, 0.5);
      const output = resamplePcm16(input, 8000, 16000);
      assert.equal(output.length, 2 * input.length);
      const lossDb = powerDb(goertzelPower(input, 8000, 1000)) - powerDb(goertzelPower(output, 16000, 1000));
      assert.ok(Math.abs(lossDb) < 0.2, `1 kHz changed by ${lossDb.toFixed(2)} dB`);
      assert.ok(powerDb(goertzelPower(output, 16000, 7000)) < powerDb(goertzelPower(output, 16000, 1000)) - 40);
    });

    it('returns a copy, not the same array, at the same rate', () => {
      const input = noise(50, 8000, -20, 1);
      const output = resamplePcm16(input, 8000, 8000);
      assert.deepEqual(output, input);
      output[0] = output[0]! + 1;
      assert.notEqual(output[0], input[0]);
    });

    it('gives empty output for empty input', () => {
      assert.equal(resamplePcm16(new Int16Array(0), 24000, 8000).length, 0);
      assert.equal(resamplePcm16(new Int16Array(0), 8000, 16000).length, 0);
    });

    it('clamps the overshoot of a full-scale square wave instead of wrapping it around', () => {
      const square = concat(...Array.from({ length: 20 }, (_, i) => new Int16Array(120).fill(i % 2 ? -32768 : 32767)));
      const output = resamplePcm16(square, 24000, 8000);
      assert.ok(output.includes(32767) && output.includes(-32768), 'the overshoot reaches full scale');
      // Each half-period's middle keeps its sign: a wrapped overshoot would flip it.
      for (let half = 1; half < 19; half++) {
        const middle = output.subarray(half * 40 + 10, half * 40 + 30);
        assert.ok(middle.every((value) => (half % 2 ? value < 0 : value > 0)), `half period ${half}`);
      }
    });

    it('rejects rates that are not positive whole numbers', () => {
      assert.throws(() => resamplePcm16(new Int16Array(10), 0, 8000), RangeError);
      assert.throws(() => resamplePcm16(new Int16Array(10), 8000, 22050.5), RangeError);
    });
  });

  describe('WAV', () => {
    it('writes a 44-byte header that readWav reads back with the same rate and samples', () => {
      const samples = noise(100, 24000, -12, 3);
      const wav = pcm16ToWav(samples, 24000);
      assert.equal(wav.length, 44 + 2 * samples.length);
      assert.equal(wav.readUInt32LE(4), wav.length - 8);
      assert.equal(wav.readUInt32LE(28), 48000); // bytes per second
      assert.equal(wav.readUInt32LE(40), 2 * samples.length);
      const read = readWav(wav);
      assert.equal(read.sampleRate, 24000);
      assert.deepEqual(read.samples, samples);
    });

    it('mixes a stereo WAV down to mono by averaging the channels', () => {
      const left = tone(440, 20, 22050, 0.8);
      const right = noise(20, 22050, -10, 5);
      const read = readWav(riff(fmtChunk({ channels: 2, sampleRate: 22050 }), chunk('data', pcmBytes(interleave(left, right)))));
      assert.equal(read.sampleRate, 22050);
      assert.deepEqual(read.samples, left.map((value, i) => Math.round((value + right[i]!) / 2)));
    });

    it('skips a LIST chunk of odd size (and its pad byte) before the data', () => {
      const samples = noise(10, 16000, -20, 9);
      const list = chunk('LIST', Buffer.from('INFOx', 'latin1'));
      assert.equal(list.length, 8 + 6);
      const read = readWav(riff(fmtChunk({ sampleRate: 16000 }), list, chunk('data', pcmBytes(samples))));
      assert.deepEqual(read.samples, samples);
    });

    for (const [label, sizeField] of [['0xFFFFFFFF', 0xffffffff], ['0', 0], ['past the end', 1_000_000]] as const) {
      it(`reads the rest of the file when a streamed WAV's data size is ${label}`, () => {
        const samples = noise(30, 24000, -20, 11);
        const read = readWav(riff(fmtChunk({ sampleRate: 24000 }), chunk('data', pcmBytes(samples), sizeField)));
        assert.deepEqual(read.samples, samples);
      });
    }

    it('reads WAVE_FORMAT_EXTENSIBLE with a PCM subformat', () => {
      const samples = noise(10, 24000, -20, 13);
      const read = readWav(riff(fmtChunk({ subformat: 1, sampleRate: 24000 }), chunk('data', pcmBytes(samples))));
      assert.deepEqual(read.samples, samples);
    });

    it('rejects bytes that are not a WAV file with a TypeError saying so', () => {
      assert.throws(() => readWav(Buffer.from('ID3\u0004 not a wave at all', 'latin1')), { name: 'TypeError', message: 'not a WAV file' });
      assert.throws(() => readWav(Buffer.alloc(4)), { name: 'TypeError', message: 'not a WAV file' });
    });

    it('rejects 32-bit float and 8-bit WAVs with a TypeError naming the format', () => {
      const floatWav = riff(fmtChunk({ format: 3, bits: 32 }), chunk('data', Buffer.alloc(64)));
      assert.throws(() => readWav(floatWav), { name: 'TypeError', message: 'WAV is not 16-bit PCM (format 3, 32 bits)' });
      const extensibleFloat = riff(fmtChunk({ subformat: 3, bits: 32 }), chunk('data', Buffer.alloc(64)));
      assert.throws(() => readWav(extensibleFloat), { name: 'TypeError', message: 'WAV is not 16-bit PCM (format 3, 32 bits)' });
      const eightBit = riff(fmtChunk({ bits: 8 }), chunk('data', Buffer.alloc(64)));
      assert.throws(() => readWav(eightBit), { name: 'TypeError', message: 'WAV is not 16-bit PCM (format 1, 8 bits)' });
    });

    it('rejects a WAV without a fmt or a data chunk', () => {
      assert.throws(() => readWav(riff(chunk('data', Buffer.alloc(8)))), { name: 'TypeError', message: 'WAV has no fmt chunk' });
      assert.throws(() => readWav(riff(fmtChunk({}))), { name: 'TypeError', message: 'WAV has no data chunk' });
    });
  });

  describe('streamed: StreamingResampler and WavStreamReader', () => {
    /** `bytes` cut in pieces of 1 to `max` (seeded), as a network delivers them. */
    function pieces<T extends { length: number; subarray(a: number, b: number): T }>(all: T, max: number, seed: number): T[] {
      const out: T[] = [];
      for (let at = 0; at < all.length;) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const size = 1 + (seed % max);
        out.push(all.subarray(at, at + size));
        at += size;
      }
      return out;
    }

    for (const [from, to] of [[24000, 8000], [22050, 8000], [16000, 8000], [8000, 16000]] as const) {
      it(`a ${from} -> ${to} Hz resampler fed in pieces gives exactly what resamplePcm16 gives for the whole`, () => {
        const input = concat(tone(440, 300, from, 0.5), noise(400, from, -12, 5), silence(50, from));
        const whole = resamplePcm16(input, from, to);
        for (const max of [1, 7, 160, 5000]) {
          const r = new StreamingResampler(from, to);
          const streamed = concat(...pieces(input, max, max).map((p) => r.push(p)), r.flush());
          assert.deepEqual(streamed, whole, `pieces of up to ${max}`);
        }
      });
    }

    it('a WAV read as it arrives gives readWav\'s rate and samples, whatever the pieces, its header first or not', () => {
      const samples = noise(250, 24000, -12, 9);
      const files = [
        pcm16ToWav(samples, 24000),
        riff(chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00', 'latin1')), fmtChunk({ sampleRate: 24000 }), chunk('data', pcmBytes(samples))),
        riff(fmtChunk({ channels: 2, sampleRate: 24000 }), chunk('data', pcmBytes(interleave(samples, samples)))),
        riff(fmtChunk({ sampleRate: 24000 }), chunk('data', pcmBytes(samples), 0xffffffff)),
      ];
      for (const file of files) {
        const expected = readWav(file);
        for (const max of [1, 3, 44, 1000]) {
          const reader = new WavStreamReader();
          const got = concat(...pieces(file, max, 3).map((p) => reader.push(p)));
          assert.equal(reader.sampleRate, expected.sampleRate);
          assert.deepEqual(got, expected.samples, `pieces of up to ${max}`);
        }
      }
    });

    it('a streamed WAV stops at its data chunk\'s size, and refuses what is not 16-bit PCM', () => {
      const samples = tone(300, 100, 8000, 0.3);
      const reader = new WavStreamReader();
      const got = reader.push(riff(fmtChunk({}), chunk('data', pcmBytes(samples)), chunk('LIST', Buffer.alloc(40, 7))));
      assert.deepEqual(got, samples, 'the chunk after the data is not audio');
      assert.throws(() => new WavStreamReader().push(riff(fmtChunk({ format: 3, bits: 32 }), chunk('data', Buffer.alloc(64)))), /not 16-bit PCM \(format 3, 32 bits\)/);
      assert.throws(() => new WavStreamReader().push(Buffer.from('ID3\x04\x00 not a wav at all')), /not a WAV file/);
      assert.equal(new WavStreamReader().push(pcm16ToWav(samples, 8000).subarray(0, 30)).length, 0, 'nothing before the header is whole');
    });
  });

  describe('levels and durations', () => {
    it('measures a half-scale sine at -9 dBFS and digital silence at -Infinity', () => {
      assert.ok(Math.abs(levelDbfs(tone(1000, 100, 8000, 0.5)) - (20 * Math.log10(0.5 / Math.SQRT2))) < 0.05);
      assert.equal(levelDbfs(silence(20, 8000)), -Infinity);
      assert.equal(levelDbfs(new Int16Array(0)), -Infinity);
    });

    it('measures only the range asked for', () => {
      const signal = concat(silence(100, 8000), noise(100, 8000, -30, 17));
      assert.equal(levelDbfs(signal, 0, 800), -Infinity);
      assert.ok(Math.abs(levelDbfs(signal, 800) - -30) < 0.5);
      assert.equal(levelDbfs(signal, 800, 1600), levelDbfs(signal.subarray(800)));
    });

    it('converts sample counts to milliseconds at the given rate', () => {
      assert.equal(durationMs(160, 8000), 20);
      assert.equal(durationMs(24000, 24000), 1000);
      assert.equal(durationMs(441, 22050), 20);
    });
  });
});
