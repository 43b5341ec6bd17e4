import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { RunningService } from '../../main.js';
import { uniquePhone } from '../support/factories.js';
import { inboundRows, setupWhatsAppOrg, waitUntil, withFakeWhatsApp } from '../support/whatsappService.js';
import { inboundMessage, newWamid, postNotification, type InboundContent } from '../support/fakeWhatsApp.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fakeOpenAI.js';

const OGG = readFileSync(new URL('../fixtures/audio/voice.ogg', import.meta.url));

describe("patients' voice notes, heard (WhatsApp, speech to text configured)", function () {
  this.timeout(30_000);
  const wa = withFakeWhatsApp();
  let openai: FakeOpenAI;
  before(async () => {
    openai = await startFakeOpenAI();
  });
  after(async () => {
    await openai.close();
  });
  beforeEach(() => {
    // The LLM classifies what it is given: a request for an appointment is a booking, anything else is not understood.
    openai.setMode({ kind: 'tool', args: (text) => (/cita/i.test(text) ? { intent: 'book', language: 'es' } : { intent: 'unknown' }) });
  });

  const setup = () => setupWhatsAppOrg(wa.fake, undefined, {}, { OPENAI_BASE_URL: openai.baseURL, OPENAI_TRANSCRIPTION_TIMEOUT_MS: '1000' });

  /** Posts one message from `from` and waits until the bot's answer to it is stored; returns the answer's reply keys. */
  async function say(svc: RunningService, pnid: string, from: string, content: InboundContent, wamid = newWamid()): Promise<string[]> {
    assert.equal((await postNotification(svc.url, inboundMessage(pnid, from, content, wamid))).status, 200);
    let keys: string[] = [];
    await waitUntil(async () => {
      const [stored] = await inboundRows(svc, wamid);
      if (!stored) return false;
      const replies = await svc.deps.db.knex('messages').where({ conversation_id: stored.conversation_id, direction: 'outbound' })
        .where('created_at', '>=', stored.created_at).orderBy('created_at').select('metadata');
      keys = replies.map((r: { metadata: { reply_key?: string } }) => r.metadata.reply_key ?? '');
      return keys.length > 0;
    });
    return keys;
  }

  it('a voice note is downloaded, transcribed and answered as the words it carries; the words are stored as its content', async () => {
    const { svc, pnid } = await setup();
    const media = wa.fake.addMedia(OGG, 'audio/ogg; codecs=opus');
    openai.setTranscription({ kind: 'text', text: 'Hola, quiero pedir una cita con el médico' });
    const wamid = newWamid();
    const voiceKeys = await say(svc, pnid, uniquePhone(), { audio: { id: media.id, mime_type: 'audio/ogg; codecs=opus', voice: true } }, wamid);

    // The same words typed get the same answer: the voice note played as a booking request.
    const typedKeys = await say(svc, pnid, uniquePhone(), { text: 'Hola, quiero pedir una cita con el médico' });
    assert.deepEqual(voiceKeys, typedKeys);
    assert.ok(!voiceKeys.includes('not_understood'), voiceKeys.join());

    // What reached the providers: the file from WhatsApp with the token, the bytes to the transcriber, the words to the LLM.
    assert.ok(wa.fake.mediaRequests.some((r) => r.path.endsWith(`/${media.id}`) && r.authorization?.startsWith('Bearer ')));
    const heard = openai.transcriptions.at(-1)!;
    assert.deepEqual(heard.file, OGG);
    assert.equal(heard.fileName, 'voice-note.ogg');
    assert.equal(heard.fields.model, 'whisper-1');
    const asked = openai.requests.map((r) => r.body.messages?.filter((m) => m.role === 'user').at(-1)?.content ?? '');
    assert.ok(asked.some((c) => c.includes('quiero pedir una cita con el médico')), 'the LLM classified the transcription');

    // Staff read what the patient said; the row keeps its media and says it was spoken.
    const [stored] = await inboundRows(svc, wamid);
    assert.equal(stored!.content, 'Hola, quiero pedir una cita con el médico');
    assert.equal(stored!.content_type, 'voice');
    assert.equal(stored!.metadata.transcribed, true);
    assert.deepEqual(stored!.metadata.media, [{ url: `whatsapp-media:${media.id}`, contentType: 'audio/ogg; codecs=opus' }]);
    const raw = await svc.deps.db.knex('messages').where({ id: stored!.id }).first();
    assert.match(raw.content, /^enc:v1:/, 'sealed at rest');
  });

  it('a voice note that cannot be heard (the transcriber fails, or the file is gone) is answered as a message without words, and stored as it came', async () => {
    const { svc, pnid } = await setup();
    const media = wa.fake.addMedia(OGG, 'audio/ogg; codecs=opus');
    const cases: Array<[string, () => void]> = [
      [media.id, () => openai.setTranscription({ kind: 'error', status: 500 })],
      [media.id, () => openai.setTranscription({ kind: 'hang', ms: 3000 })],
      ['9999999999', () => openai.setTranscription({ kind: 'text', text: 'quiero una cita' })],
    ];
    for (const [id, arrange] of cases) {
      arrange();
      const wamid = newWamid();
      const keys = await say(svc, pnid, uniquePhone(), { audio: { id, mime_type: 'audio/ogg; codecs=opus', voice: true } }, wamid);
      assert.ok(keys.includes('not_understood'), keys.join());
      const [stored] = await inboundRows(svc, wamid);
      assert.equal(stored!.content, '');
      assert.equal(stored!.content_type, 'text');
      assert.equal(stored!.metadata.transcribed, undefined);
    }
  });

  it('an image is not sent to the transcriber', async () => {
    const { svc, pnid } = await setup();
    const before = openai.transcriptions.length;
    const keys = await say(svc, pnid, uniquePhone(), { image: { id: wa.fake.addMedia(OGG, 'image/jpeg').id, mime_type: 'image/jpeg' } });
    assert.ok(keys.includes('not_understood'));
    assert.equal(openai.transcriptions.length, before);
  });
});
