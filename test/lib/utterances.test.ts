import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mulawDecode } from '../../lib/telephonyAudio.js';
import { UtteranceDetector, type UtteranceEvent } from '../../lib/utterances.js';
import { concat, mix, noise, silence, sineAmplitude, syllables, tone } from '../support/audioSignals.js';

const RATE = 8000;
const samplesAt = (ms: number) => (ms * RATE) / 1000;

/** Pushes `audio` in chunks of `chunkSamples` (all at once without), collecting the events. */
function run(detector: UtteranceDetector, audio: Int16Array, chunkSamples = audio.length): UtteranceEvent[] {
  const events: UtteranceEvent[] = [];
  for (let offset = 0; offset < audio.length; offset += Math.max(1, chunkSamples)) {
    events.push(...detector.push(audio.subarray(offset, offset + chunkSamples)));
  }
  return events;
}

function utterances(events: UtteranceEvent[]) {
  return events.filter((event) => event.type === 'utterance');
}

function assertNear(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);
}

/** About 1.2 s of speech: 8 syllables of 150 ms at `dbfs` with word-internal and between-word pauses. */
function sentence(dbfs = -20, gapsMs = [50, 50, 120]): Int16Array {
  return syllables({ sampleRate: RATE, dbfs, count: 8, gapsMs });
}

describe('UtteranceDetector (lib/utterances)', () => {
  it('hears nothing in silence, while silentMs and positionMs grow with the audio', () => {
    const detector = new UtteranceDetector({ sampleRate: RATE });
    for (let ms = 20; ms <= 3000; ms += 20) {
      assert.deepEqual(detector.push(silence(20, RATE)), []);
      assert.equal(detector.silentMs, ms);
      assert.equal(detector.positionMs, ms);
    }
    assert.equal(detector.inSpeech, false);
  });

  it('emits one speech-start and one utterance for a sentence at -20 dBFS followed by 1 s of silence', () => {
    const speech = sentence();
    const speechEndMs = 510 + speech.length / 8;
    const input = concat(silence(510, RATE), speech, silence(1000, RATE));
    const detector = new UtteranceDetector({ sampleRate: RATE });
    const events = run(detector, input, samplesAt(20));
    assert.deepEqual(events.map((event) => event.type), ['speech-start', 'utterance']);
    const [start, utterance] = events;
    assert.ok(start?.type === 'speech-start' && utterance?.type === 'utterance');
    assertNear(utterance.startMs, 510, 100, 'startMs');
    assertNear(utterance.endMs, speechEndMs, 100, 'endMs');
    assert.equal(start.atMs, utterance.startMs);
    assertNear(utterance.speechMs, 8 * 150, 100, 'speechMs');
    assert.equal(utterance.cut, false);
    assert.equal(detector.inSpeech, false);
    assertNear(detector.silentMs, input.length / 8 - speechEndMs, 20, 'silentMs');
  });

  it('keeps 200 ms of pre-roll and a little trailing audio, not the whole end silence', () => {
    const input = concat(silence(700, RATE), sentence(), silence(1000, RATE));
    const [utterance] = utterances(run(new UtteranceDetector({ sampleRate: RATE }), input));
    assert.ok(utterance);
    const from = samplesAt(utterance.startMs - 200);
    assert.deepEqual(utterance.samples, input.subarray(from, from + utterance.samples.length));
    const afterEndMs = utterance.samples.length / 8 - (utterance.endMs - utterance.startMs + 200);
    assert.ok(afterEndMs >= 100 && afterEndMs <= 200, `${afterEndMs} ms kept after the speech`);
  });

  it('does not split an utterance at the 50-300 ms pauses inside and between words', () => {
    const speech = syllables({ sampleRate: RATE, dbfs: -20, count: 12, gapsMs: [50, 300, 120, 250, 80] });
    const input = concat(silence(500, RATE), speech, silence(1000, RATE));
    const found = utterances(run(new UtteranceDetector({ sampleRate: RATE }), input));
    assert.equal(found.length, 1);
    assertNear(found[0]!.endMs - found[0]!.startMs, speech.length / 8, 60, 'length');
  });

  it('ends an utterance only once endSilenceMs of silence has passed', () => {
    for (const endSilenceMs of [700, 300]) {
      const detector = new UtteranceDetector({ sampleRate: RATE, endSilenceMs });
      // 510 + 1690 ms: the speech ends on a block boundary, so the silence is counted exactly.
      assert.equal(sentence().length, samplesAt(1690));
      assert.deepEqual(run(detector, concat(silence(510, RATE), sentence())).map((event) => event.type), ['speech-start']);
      assert.deepEqual(detector.push(silence(endSilenceMs - 20, RATE)), []);
      assert.equal(detector.inSpeech, true);
      assert.deepEqual(detector.push(silence(20, RATE)).map((event) => event.type), ['utterance']);
      assert.equal(detector.inSpeech, false);
    }
  });

  it('emits two utterances for two sentences a second and a half apart', () => {
    const input = concat(silence(500, RATE), sentence(), silence(1500, RATE), sentence(-25), silence(1000, RATE));
    const found = utterances(run(new UtteranceDetector({ sampleRate: RATE }), input));
    assert.equal(found.length, 2);
    const secondStartMs = 500 + sentence().length / 8 + 1500;
    assertNear(found[1]!.startMs, secondStartMs, 100, 'second startMs');
    const from = samplesAt(found[1]!.startMs - 200); // its pre-roll comes from the first one's end silence
    assert.deepEqual(found[1]!.samples.subarray(0, samplesAt(200)), input.subarray(from, from + samplesAt(200)));
  });

  it('ignores a 100 ms click, which is too short to start speech', () => {
    const click = tone(1000, 100, RATE, sineAmplitude(-10));
    const detector = new UtteranceDetector({ sampleRate: RATE });
    assert.deepEqual(run(detector, concat(silence(500, RATE), click, silence(1000, RATE))), []);
    assert.equal(detector.inSpeech, false);
  });

  it('drops a 200 ms cough shorter than minSpeechMs instead of emitting it', () => {
    const cough = tone(700, 200, RATE, sineAmplitude(-15));
    const events = run(new UtteranceDetector({ sampleRate: RATE }), concat(silence(500, RATE), cough, silence(1000, RATE)));
    assert.deepEqual(events.map((event) => event.type), ['speech-start', 'dropped']);
    const dropped = events[1]!;
    assert.ok(dropped.type === 'dropped');
    assert.ok(dropped.speechMs >= 120 && dropped.speechMs < 250, `speechMs ${dropped.speechMs}`);
    assertNear(dropped.startMs, 500, 20, 'startMs');
  });

  it('never triggers on steady -50 dBFS line noise, and still hears speech over it', () => {
    const detector = new UtteranceDetector({ sampleRate: RATE });
    assert.deepEqual(run(detector, noise(10_000, RATE, -50, 1), samplesAt(20)), []);
    const speech = concat(silence(500, RATE), sentence(-25), silence(1000, RATE));
    const found = utterances(run(detector, mix(speech, noise(speech.length / 8, RATE, -50, 2)), samplesAt(20)));
    assert.equal(found.length, 1);
    assertNear(found[0]!.startMs, 10_500, 100, 'startMs');
    assertNear(found[0]!.speechMs, 8 * 150, 100, 'speechMs');
  });

  it('learns a steady -35 dBFS hum above minLevelDbfs within seconds, then hears only speech over it', () => {
    const detector = new UtteranceDetector({ sampleRate: RATE });
    const learning = run(detector, noise(5000, RATE, -35, 3));
    assert.ok(learning.every((event) => event.type !== 'speech-start' || event.atMs < 1000), 'only at the start of the call');
    assert.deepEqual(run(detector, noise(10_000, RATE, -35, 4)), []);
    const speech = concat(silence(500, RATE), sentence(-10), silence(1000, RATE));
    const found = utterances(run(detector, mix(speech, noise(speech.length / 8, RATE, -35, 5))));
    assert.equal(found.length, 1);
    assertNear(found[0]!.speechMs, 8 * 150, 100, 'speechMs');
  });

  for (const dbfs of [-30, -10]) {
    it(`hears a sentence at ${dbfs} dBFS`, () => {
      const found = utterances(run(new UtteranceDetector({ sampleRate: RATE }), concat(silence(500, RATE), sentence(dbfs), silence(1000, RATE))));
      assert.equal(found.length, 1);
      assertNear(found[0]!.speechMs, 8 * 150, 100, 'speechMs');
    });
  }

  it('cuts an utterance at maxUtteranceMs with cut: true and carries on with the rest as a new utterance', () => {
    const speech = syllables({ sampleRate: RATE, dbfs: -20, count: 100, gapsMs: [50, 50, 150] });
    const input = concat(silence(500, RATE), speech, silence(1000, RATE));
    const events = run(new UtteranceDetector({ sampleRate: RATE }), input, samplesAt(20));
    assert.deepEqual(events.map((event) => event.type), ['speech-start', 'utterance', 'speech-start', 'utterance']);
    const [, first, restart, rest] = events;
    assert.ok(first?.type === 'utterance' && restart?.type === 'speech-start' && rest?.type === 'utterance');
    assert.equal(first.cut, true);
    assert.equal(first.samples.length, samplesAt(15_000));
    assert.equal(first.endMs, first.startMs - 200 + 15_000);
    assert.equal(restart.atMs, first.endMs);
    assert.equal(rest.cut, false);
    assert.equal(rest.startMs, first.endMs);
    assertNear(rest.endMs, 500 + speech.length / 8, 100, 'endMs');
    // The rest picks up exactly where the cut left off: nothing lost, nothing repeated.
    const cutAt = samplesAt(first.endMs);
    assert.deepEqual(first.samples.subarray(-100), input.subarray(cutAt - 100, cutAt));
    assert.deepEqual(rest.samples.subarray(0, 1000), input.subarray(cutAt, cutAt + 1000));
  });

  it('gives the same events whether the audio comes in 20 ms chunks, 7 ms chunks or one buffer', () => {
    const input = concat(
      noise(2000, RATE, -50, 6),
      mix(concat(sentence(), silence(900, RATE), tone(900, 200, RATE, 0.3), silence(800, RATE), sentence(-28)), noise(3000, RATE, -50, 7)),
      silence(1000, RATE),
    );
    const inOne = run(new UtteranceDetector({ sampleRate: RATE }), input);
    assert.deepEqual(inOne.map((event) => event.type), ['speech-start', 'utterance', 'speech-start', 'dropped', 'speech-start', 'utterance']);
    assert.deepEqual(run(new UtteranceDetector({ sampleRate: RATE }), input, samplesAt(20)), inOne);
    assert.deepEqual(run(new UtteranceDetector({ sampleRate: RATE }), input, samplesAt(7)), inOne);
  });

  it('reset() drops the speech in progress and restarts silentMs', () => {
    const detector = new UtteranceDetector({ sampleRate: RATE });
    run(detector, concat(silence(1000, RATE), sentence().subarray(0, samplesAt(600))));
    assert.equal(detector.inSpeech, true);
    detector.reset();
    assert.equal(detector.inSpeech, false);
    assert.equal(detector.silentMs, 0);
    assert.equal(detector.positionMs, 1600);
    assert.deepEqual(run(detector, silence(1000, RATE)), []);
    assert.equal(detector.silentMs, 1000);
  });

  it('reset() keeps the learnt noise floor, so a loud hum does not trigger again', () => {
    const hum = noise(6000, RATE, -35, 8);
    const detector = new UtteranceDetector({ sampleRate: RATE });
    run(detector, hum);
    detector.reset();
    assert.deepEqual(run(detector, noise(3000, RATE, -35, 9)), []);
    // A new detector, not yet knowing the hum, takes it for speech.
    assert.ok(run(new UtteranceDetector({ sampleRate: RATE }), noise(3000, RATE, -35, 9)).length > 0);
  });

  // Recorded speech (espeak-ng, as a phone line carries it: 8 kHz mu-law): its unvoiced consonants and pauses between words.
  for (const [file, words] of [['caller-en.ulaw', 'I would like to book an appointment'], ['caller-es.ulaw', 'Quiero pedir una cita para mañana por la tarde']]) {
    it(`finds the whole of a recorded sentence ("${words}") over line noise, as one utterance`, () => {
      const recorded = mulawDecode(readFileSync(new URL(`../fixtures/audio/${file}`, import.meta.url)));
      // Where the words are: the first and last 20 ms at most 40 dB below the recording's loudest.
      const levels = Array.from({ length: Math.floor(recorded.length / 160) }, (_, i) => {
        let sum = 0;
        for (let j = i * 160; j < (i + 1) * 160; j++) sum += recorded[j]! ** 2;
        return Math.sqrt(sum / 160);
      });
      const loudest = Math.max(...levels);
      const first = levels.findIndex((l) => l > loudest / 100) * 20;
      const last = (levels.length - [...levels].reverse().findIndex((l) => l > loudest / 100)) * 20;
      const lead = 1000;
      const call = mix(concat(silence(lead, RATE), recorded, silence(1500, RATE)), noise(lead + recorded.length / 8 + 1500, RATE, -55, 3));
      const events = run(new UtteranceDetector({ sampleRate: RATE }), call, 160);
      const found = utterances(events);
      assert.equal(found.length, 1, JSON.stringify(events.map((e) => e.type)));
      const u = found[0]!;
      assert.ok(u.startMs <= lead + first + 60, `starts at ${u.startMs} ms, the words at ${lead + first} ms`);
      assert.ok(u.endMs >= lead + last - 60, `ends at ${u.endMs} ms, the words at ${lead + last} ms`);
      assert.ok(u.samples.length / 8 <= last - first + 600, 'not the silence around them');
    });
  }

  it('rejects a sample rate or durations that make no sense', () => {
    assert.throws(() => new UtteranceDetector({ sampleRate: 0 }), RangeError);
    assert.throws(() => new UtteranceDetector({ sampleRate: RATE, endSilenceMs: -1 }), RangeError);
    assert.throws(() => new UtteranceDetector({ sampleRate: RATE, minSpeechMs: Number.NaN }), RangeError);
  });
});
