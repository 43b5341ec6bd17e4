import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { RunningService } from '../../main.js';
import { testService } from '../support/service.js';
import { ALL_WEEK_HOURS, buildDoctor, buildPatient, createTestOrg, uniquePhone, type TestOrg } from '../support/factories.js';
import { FAKE_AUTH_TOKEN, FAKE_PUBLIC_URL, postSignedForm } from '../support/fakeTwilio.js';
import { clientOn, startSmsService, stopSmsServices, uniqueTwilioNumber } from '../support/smsService.js';
import { parseTwiml, TwilioCall } from '../support/voiceCall.js';
import { ApiClient } from '../support/client.js';
import { startFakeOpenAI, DEFAULT_FAKE_SPEECH, type FakeOpenAI } from '../support/fakeOpenAI.js';
import { handshakeStatus, openStreamSocket, streamTwiml, twilioSignatureOver, TwilioMediaStream } from '../support/mediaStream.js';
import { concat, goertzelPower, silence, syllables } from '../support/audioSignals.js';
import { mulawDecode, readWav } from '../../lib/telephonyAudio.js';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { Message } from '../../models/messages.js';
import { Ticket } from '../../models/tickets.js';

const RATE = 8000;
/** About 1.2 s of speech, then the second of silence that ends it. */
const speech = () => concat(syllables({ sampleRate: RATE, dbfs: -20, count: 6, gapsMs: [50, 120] }), silence(1000, RATE));
/** "I would like to book an appointment", recorded (espeak-ng) as a phone line carries it: 8 kHz mu-law. */
const RECORDED = mulawDecode(readFileSync(new URL('../fixtures/audio/caller-en.ulaw', import.meta.url)));
/** "Quiero pedir una cita para mañana por la tarde", recorded the same way. */
const RECORDED_ES = mulawDecode(readFileSync(new URL('../fixtures/audio/caller-es.ulaw', import.meta.url)));

/** The recording's words: from the first to the last sample louder than 1 % of its peak. */
function wordsOf(samples: Int16Array): Int16Array {
  const peak = samples.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
  const first = samples.findIndex((v) => Math.abs(v) > peak / 100);
  const last = samples.length - [...samples].reverse().findIndex((v) => Math.abs(v) > peak / 100);
  return samples.subarray(first, last);
}

/** Whether `needle` appears in `haystack` sample for sample. */
function containsRun(haystack: Int16Array, needle: Int16Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

interface StreamClinic { t: TestOrg; svc: RunningService; api: ApiClient; number: string }

describe('voice channel over Media Streams (VOICE_RECOGNITION=stream: our speech to text and text to speech)', function () {
  this.timeout(30_000);
  let openai: FakeOpenAI;
  before(async function () {
    this.timeout(60_000);
    await testService();
    openai = await startFakeOpenAI();
  });
  after(async () => {
    await openai.close();
  });
  beforeEach(() => {
    // The LLM fails, so every turn is understood by the rules (the LLM path has its own tests).
    openai.setMode({ kind: 'error', status: 500 });
    openai.setSpeech(DEFAULT_FAKE_SPEECH);
    openai.holdSpeech(null);
    openai.releaseSpeech();
    openai.setTranscription({ kind: 'text', text: '' });
  });
  afterEach(async () => {
    await stopSmsServices();
  });

  async function streamClinic(settings: Record<string, unknown> = {}): Promise<StreamClinic> {
    const number = uniqueTwilioNumber();
    const t = await createTestOrg({ timeZone: 'Europe/Madrid', settings: { voice_number: number, ...settings } });
    const svc = await startSmsService(null, [t.org.id], {
      env: {
        TWILIO_AUTH_TOKEN: FAKE_AUTH_TOKEN, PUBLIC_URL: FAKE_PUBLIC_URL, VOICE_RECOGNITION: 'stream', OPENAI_BASE_URL: openai.baseURL,
        VOICE_NO_INPUT_MS: '2000', OPENAI_TRANSCRIPTION_TIMEOUT_MS: '2000', OPENAI_SPEECH_TIMEOUT_MS: '2000',
      },
    });
    return { t, svc, number, api: await clientOn(svc, t) };
  }

  /** A call comes in and Twilio connects its <Stream>: the stream's path comes from the TwiML. */
  async function streamedCall(c: StreamClinic, from = uniquePhone()): Promise<{ call: TwilioCall; stream: TwilioMediaStream }> {
    const call = new TwilioCall(c.svc.url, from, c.number);
    const answered = await call.dial();
    assert.equal(answered.status, 200);
    const { streamUrl } = streamTwiml(answered.twiml.raw);
    assert.ok(streamUrl, answered.twiml.raw);
    const stream = await TwilioMediaStream.connect(c.svc.url, call.callSid, new URL(streamUrl).pathname);
    return { call, stream };
  }

  /** The lines synthesized while `act` runs and the bot's next words play (the catalog's lines only the first time). */
  async function linesSpoken(stream: TwilioMediaStream, act: () => void): Promise<{ lines: string[]; audio: Buffer }> {
    const before = openai.speeches.length;
    act();
    const audio = await stream.play();
    return { lines: openai.speeches.slice(before).map((s) => s.input), audio };
  }

  const say = (stream: TwilioMediaStream, words: string) => linesSpoken(stream, () => {
    openai.queueTranscriptions(words);
    stream.sendAudio(speech());
  });
  /** Keys, then the pause after which they are one message. */
  const press = (stream: TwilioMediaStream, digit: string) => linesSpoken(stream, () => {
    stream.press(digit);
    stream.sendAudio(silence(1600, RATE));
  });

  /** Twilio asks the <Connect> action once the stream has ended. */
  async function streamEnded(c: StreamClinic, call: TwilioCall) {
    const res = await postSignedForm('/api/v1/voice/stream-ended', {
      AccountSid: 'AC'.padEnd(34, '1'), CallSid: call.callSid, From: call.from, To: call.to, CallStatus: 'in-progress', StreamSid: 'MZ1',
    }, { serviceUrl: c.svc.url });
    assert.equal(res.status, 200);
    return parseTwiml(res.text);
  }

  it('a caller books by speech and keys over the stream; what they said was heard from the audio; GET /call-logs/:id shows the transcript', async () => {
    const c = await streamClinic();
    await buildDoctor(c.t, { name: 'Dr. Joan Vives', specialization: 'Cardiology', working_hours: ALL_WEEK_HOURS() });
    const patient = await buildPatient(c.t, { name: 'Laura Puig', preferred_language: 'en' });
    const call = new TwilioCall(c.svc.url, patient.phone!, c.number);
    const answered = await call.dial();
    // No <Say> or <Gather>: the call's audio goes to our socket, and the <Connect> action follows it.
    assert.equal(answered.twiml.says.length, 0);
    assert.equal(answered.twiml.gatherAction, null);
    const { streamUrl, action } = streamTwiml(answered.twiml.raw);
    assert.equal(streamUrl, `wss://carechat.example.test/api/v1/voice/stream/${call.callSid}`);
    assert.equal(action, '/api/v1/voice/stream-ended');

    const stream = await TwilioMediaStream.connect(c.svc.url, call.callSid);
    const greeting = await linesSpoken(stream, () => undefined);
    assert.ok(greeting.lines.includes(`Thank you for calling ${c.t.org.name}.`), greeting.lines.join(' | '));
    assert.ok(greeting.lines.includes('For Book an appointment, say it or press 1.'), greeting.lines.join(' | '));
    // The speech came back as 24 kHz WAV; the caller hears it at 8 kHz mu-law, as long as it was, and at its pitch.
    const expectedBytes = greeting.lines.reduce((sum, line) => sum + line.length * DEFAULT_FAKE_SPEECH.msPerChar * 8, 0);
    assert.ok(Math.abs(greeting.audio.length - expectedBytes) <= greeting.lines.length * 2, `${greeting.audio.length} bytes, expected ${expectedBytes}`);
    const pcm = mulawDecode(greeting.audio);
    assert.ok(goertzelPower(pcm, RATE, 440) > 100 * goertzelPower(pcm, RATE, 1000), 'the tone the speech service sent');
    assert.deepEqual(openai.speeches.at(-1)!.response_format, 'wav');

    const asked = await linesSpoken(stream, () => {
      openai.queueTranscriptions('I would like to book an appointment');
      stream.sendAudio(concat(silence(500, RATE), RECORDED, silence(1000, RATE)));
    });
    const heard = openai.transcriptions.at(-1)!;
    assert.equal(heard.fileType, 'audio/wav');
    assert.equal(heard.fields.language, 'en');
    assert.match(heard.fields.prompt!, /Dr\. Joan Vives, Cardiology/, 'the clinic\'s doctors are expected words');
    const wav = readWav(heard.file);
    assert.equal(wav.sampleRate, RATE);
    const words = wordsOf(RECORDED);
    assert.ok(containsRun(wav.samples, words), 'the transcriber got the caller\'s words, sample for sample');
    assert.ok(wav.samples.length <= words.length + 0.6 * RATE, `${wav.samples.length / RATE} s sent for ${words.length / RATE} s of words`);
    assert.ok(asked.lines.length > 0);

    let lines = asked.lines;
    for (let i = 0; i < 8 && !lines.some((l) => /booked/.test(l)); i++) {
      lines = lines.some((l) => /Shall I book/.test(l)) ? (await say(stream, 'yes')).lines : (await press(stream, '1')).lines;
    }
    assert.ok(lines.some((l) => /Done! Your appointment is booked: .* with Dr\. Joan Vives/.test(l)), lines.join(' | '));
    const [appointment] = await c.svc.deps.db.knex('appointments').where({ organization_id: c.t.org.id, patient_id: patient.id }).select('id', 'source');
    assert.equal(appointment.source, 'voice');

    const inbound = await Message.query(c.svc.deps.db.knex).where({ organization_id: c.t.org.id, channel: 'voice', direction: 'inbound' }).orderBy('id');
    assert.equal(inbound[0]!.content, 'I would like to book an appointment');
    assert.equal(inbound[0]!.provider_message_id, `${call.callSid}:1`);
    assert.ok(inbound.some((m) => m.content === '1'), 'a key pressed is a message');

    stream.stop();
    assert.equal((await stream.closed).code, 1000);
    await call.status('completed', 61);
    const log = (await c.api.get('/api/v1/call-logs')).body.data[0];
    assert.equal(log.recognition, 'stream');
    assert.equal(log.turns, inbound.length);
    const detail = (await c.api.get(`/api/v1/call-logs/${log.id}`)).body.data;
    assert.match(detail.transcript, /\nCaller: I would like to book an appointment\n/);
    assert.match(detail.transcript, /Assistant: Done! Your appointment is booked/);
    assert.equal(detail.appointment_created, appointment.id);
  });

  it('a caller the clinic does not know is heard in the language they speak, not the clinic\'s: the bot answers in it and expects it next', async () => {
    const c = await streamClinic();
    await buildDoctor(c.t, { working_hours: ALL_WEEK_HOURS() });
    const { stream } = await streamedCall(c);
    await stream.play();
    const asked = await linesSpoken(stream, () => {
      openai.queueTranscriptions('Quiero pedir una cita para mañana por la tarde');
      stream.sendAudio(concat(RECORDED_ES, silence(1000, RATE)));
    });
    assert.equal(openai.transcriptions.at(-1)!.fields.language, undefined, 'the transcriber tells the language of an unknown caller');
    assert.ok(asked.lines.includes('Antes de seguir, ¿cuál es tu nombre completo?'), asked.lines.join(' | '));
    await say(stream, 'Marta Soler');
    assert.equal(openai.transcriptions.at(-1)!.fields.language, 'es', 'then the caller\'s language is expected');
  });

  it('a reply is heard while the speech service is still speaking it: its first audio is sent before the rest has arrived', async () => {
    const c = await streamClinic();
    const { stream } = await streamedCall(c);
    await stream.play();
    // The question for an unknown caller's name comes in two parts: a quarter of a second of it, then the rest when let go.
    openai.holdSpeech({ input: /full name/, afterBytes: 44 + 2 * 6000 });
    openai.queueTranscriptions('I want to book an appointment');
    stream.sendAudio(speech());
    const first = await stream.waitFor((f) => f.event === 'media');
    assert.equal(openai.heldSpeeches, 1, 'the rest of the line has not been sent by the service yet');
    assert.ok(!stream.frames.slice(first).some((f) => f.event === 'mark'), 'nor has the line ended');
    openai.releaseSpeech();
    const { audio } = await stream.nextMark();
    const asked = openai.speeches.find((s) => /full name/.test(s.input))!.input;
    assert.equal(audio.length, asked.length * DEFAULT_FAKE_SPEECH.msPerChar * 8, 'all of it, once, at 8 kHz');
  });

  it('speaking over the bot stops it at once (clear) and is answered; # sends the keys without waiting', async () => {
    const c = await streamClinic();
    await buildDoctor(c.t, { working_hours: ALL_WEEK_HOURS() });
    const { stream } = await streamedCall(c);
    await stream.nextMark(); // the greeting is playing: its mark is not returned yet
    openai.queueTranscriptions('what are my appointments');
    stream.sendAudio(speech());
    await stream.waitFor((f) => f.event === 'clear');
    const answer = await stream.play();
    assert.ok(answer.length > 0);
    const keysBefore = stream.frames.length;
    stream.press('3');
    stream.press('#');
    await stream.play();
    assert.ok(stream.frames.length > keysBefore);
    const inbound = await Message.query(c.svc.deps.db.knex).where({ organization_id: c.t.org.id, channel: 'voice', direction: 'inbound' }).orderBy('id');
    assert.deepEqual(inbound.map((m) => m.content), ['what are my appointments', '3']);
  });

  it('silence asks again twice, then says goodbye; the stream ends and the <Connect> action hangs up; the catalog\'s lines are synthesized once', async () => {
    const c = await streamClinic();
    const { call, stream } = await streamedCall(c);
    const greeting = await linesSpoken(stream, () => undefined);
    const first = await linesSpoken(stream, () => stream.sendAudio(silence(2100, RATE)));
    assert.ok(first.lines.includes("Sorry, I didn't hear anything."), first.lines.join(' | '));
    const question = greeting.lines.find((l) => /What would you like to do\?/.test(l))!;
    assert.ok(first.lines.includes(question), 'the last question again');
    assert.ok(!first.lines.some((l) => /say it or press/.test(l)), 'the options were synthesized once and kept');
    assert.ok(first.audio.length >= greeting.audio.length - 8 * 'Thank you for calling '.length * 10 - 8 * c.t.org.name.length * 10, 'the options are heard again');
    const second = await linesSpoken(stream, () => stream.sendAudio(silence(2100, RATE)));
    assert.deepEqual(second.lines, [question], 'only the question is synthesized again');
    const last = await linesSpoken(stream, () => stream.sendAudio(silence(2100, RATE)));
    assert.deepEqual(last.lines, ['Thank you for calling. Goodbye.']);
    assert.equal((await stream.closed).code, 1000);
    const next = await streamEnded(c, call);
    assert.ok(next.hangup);
    assert.equal(next.gatherAction, null);
  });

  it('asking for a person opens a ticket, and the <Connect> action puts the caller through to voice_transfer_number', async () => {
    const c = await streamClinic({ voice_transfer_number: '+34931234567' });
    const { call, stream } = await streamedCall(c);
    await stream.play();
    const handed = await say(stream, 'I want to talk to a person');
    assert.ok(handed.lines.some((l) => /Your reference is #1/.test(l)), handed.lines.join(' | '));
    assert.ok(handed.lines.some((l) => /put you through/.test(l)));
    assert.equal((await stream.closed).code, 1000);
    const next = await streamEnded(c, call);
    assert.equal(next.dial, '+34931234567');
    const ticket = await Ticket.query(c.svc.deps.db.knex).findOne({ organization_id: c.t.org.id });
    assert.match(ticket!.description!, /I want to talk to a person/);
  });

  it('an emergency is told to call the emergency number, over which the caller cannot talk, and the call ends', async () => {
    const c = await streamClinic();
    const { call, stream } = await streamedCall(c);
    await stream.play();
    openai.queueTranscriptions('I have chest pain and cannot breathe');
    stream.sendAudio(speech());
    const told = await stream.nextMark();
    assert.ok(told.audio.length > 0);
    assert.ok(openai.speeches.some((s) => /112/.test(s.input)), 'the emergency number is said');
    openai.queueTranscriptions('hello?');
    stream.sendAudio(speech());
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(!stream.frames.some((f) => f.event === 'clear'), 'not interrupted');
    // The emergency words have played: the stream ends.
    stream.returnMark(told.name);
    assert.equal((await stream.closed).code, 1000);
    assert.ok((await streamEnded(c, call)).hangup);
    const inbound = await Message.query(c.svc.deps.db.knex).where({ organization_id: c.t.org.id, channel: 'voice', direction: 'inbound' });
    assert.deepEqual(inbound.map((m) => m.content), ['I have chest pain and cannot breathe'], 'what was said over the last words is not a turn');
  });

  it('when the speech service fails, the call goes on with Twilio\'s recognizer: the stream ends and the <Connect> action answers with a <Gather>', async () => {
    const c = await streamClinic();
    openai.setSpeech({ kind: 'error', status: 503 });
    const { call, stream } = await streamedCall(c);
    assert.equal((await stream.closed).code, 1000);
    const next = await streamEnded(c, call);
    assert.equal(next.gatherAction, '/api/v1/voice/gather?n=1');
    assert.match(next.says.join(' | '), /What would you like to do\?/);
    const log = (await c.api.get('/api/v1/call-logs')).body.data[0];
    assert.equal(log.recognition, 'twilio');
    const asked = await call.speak('what are my appointments', next.gatherAction!);
    assert.ok(asked.gatherAction, asked.raw);

    // Speech to text failing three times in a row: "didn't catch that" twice, then Twilio's recognizer.
    openai.setSpeech(DEFAULT_FAKE_SPEECH);
    const other = await streamedCall(c);
    await other.stream.play();
    openai.queueTranscriptions({ kind: 'error', status: 500 }, { kind: 'error', status: 500 }, { kind: 'error', status: 500 });
    const notHeard = await linesSpoken(other.stream, () => other.stream.sendAudio(speech()));
    assert.ok(notHeard.lines.includes("Sorry, I didn't catch that."), notHeard.lines.join(' | '));
    await linesSpoken(other.stream, () => other.stream.sendAudio(speech()));
    other.stream.sendAudio(speech());
    assert.equal((await other.stream.closed).code, 1000);
    assert.ok((await streamEnded(c, other.call)).gatherAction);

    // Operators see it: two streams, three utterances not heard, two calls handed to Twilio's recognizer.
    const metrics = await (await fetch(`${c.svc.url}/metrics`)).text();
    for (const line of ['carechat_voice_streams_total 2', 'carechat_voice_stream_utterances_total 3', 'carechat_voice_stream_not_heard_total 3', 'carechat_voice_stream_fallbacks_total 2', 'carechat_voice_streams_open 0']) {
      assert.ok(metrics.split('\n').includes(line), `${line} in /metrics`);
    }
  });

  it('a caller who hangs up while the bot works out its answer has said it (stored), and the answer nobody heard fails with the call\'s end', async () => {
    const c = await streamClinic();
    const { call, stream } = await streamedCall(c);
    await stream.play();
    openai.setTranscription({ kind: 'hang', ms: 300 }); // answers "too late" after 300 ms
    stream.sendAudio(speech());
    await new Promise((resolve) => setTimeout(resolve, 100));
    stream.stop();
    assert.equal((await stream.closed).code, 1000);
    const knex = c.svc.deps.db.knex;
    let reply: { status: string } | undefined;
    for (let i = 0; i < 100 && !reply; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const said = await Message.query(knex).findOne({ organization_id: c.t.org.id, channel: 'voice', direction: 'inbound' });
      reply = said && await knex('messages').where({ conversation_id: said.conversation_id, direction: 'outbound' }).where('id', '>', said.id).first('status');
    }
    assert.equal(reply?.status, 'queued', 'not claimed: nobody heard it');
    await call.status('completed', 12);
    const said = await Message.query(knex).findOne({ organization_id: c.t.org.id, channel: 'voice', direction: 'inbound' });
    assert.equal(said!.content, 'too late');
    const unheard = await knex('messages').where({ conversation_id: said!.conversation_id, direction: 'outbound' }).where('id', '>', said!.id);
    assert.ok(unheard.length > 0 && unheard.every((m: { status: string; last_error: string }) => m.status === 'failed' && m.last_error === 'call_ended'), JSON.stringify(unheard.map((m: { status: string; last_error: string }) => [m.status, m.last_error])));
  });

  it('the stream refuses a handshake without Twilio\'s signature (403), for an unknown call (404) or an ended one (410), and closes on a start naming another call', async () => {
    const c = await streamClinic();
    const { call, stream } = await streamedCall(c);
    const path = `/api/v1/voice/stream/${call.callSid}`;
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, path, { signature: null })), 403);
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, path, { authToken: 'another-token' })), 403);
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, '/api/v1/voice/stream/CA' + 'f'.repeat(32), { signedAs: 'https' })), 404, 'signed over the https form of the address: Twilio\'s, the call unknown');
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, path, { signature: twilioSignatureOver(`https://elsewhere.example${path}`) })), 403);
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, `/api/v1/voice/stream/CA${'0'.repeat(32)}`)), 404);
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, '/api/v1/voice/stream/not-a-call')), 404);
    stream.close();
    await call.status('completed', 5);
    assert.equal(await handshakeStatus(openStreamSocket(c.svc.url, path)), 410);

    // VAANI's document puts the call's id at the top level of start: read there too.
    const other = new TwilioCall(c.svc.url, uniquePhone(), c.number);
    await other.dial();
    const ws = openStreamSocket(c.svc.url, `/api/v1/voice/stream/${other.callSid}`);
    assert.equal(await handshakeStatus(ws), 101);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', callSid: call.callSid, tracks: ['inbound'] }));
    assert.equal(await closed, 1008);
  });

  it('without VOICE_RECOGNITION=stream there is no stream socket, and VOICE_RECOGNITION=stream needs a speech service', async () => {
    const number = uniqueTwilioNumber();
    const t = await createTestOrg({ settings: { voice_number: number } });
    const svc = await startSmsService(null, [t.org.id], { env: { TWILIO_AUTH_TOKEN: FAKE_AUTH_TOKEN, PUBLIC_URL: FAKE_PUBLIC_URL } });
    const call = new TwilioCall(svc.url, uniquePhone(), number);
    assert.ok((await call.dial()).twiml.gatherAction, 'Twilio\'s recognizer');
    assert.equal(await handshakeStatus(openStreamSocket(svc.url, `/api/v1/voice/stream/${call.callSid}`)), 404);
    assert.throws(() => loadConfig({ VOICE_RECOGNITION: 'stream' }), (err: Error) => err instanceof ConfigError && /VOICE_RECOGNITION: .*OPENAI_API_KEY or OPENAI_BASE_URL/.test(err.message));
    assert.throws(() => loadConfig({ VOICE_RECOGNITION: 'whisper' }), /VOICE_RECOGNITION/);
  });
});
