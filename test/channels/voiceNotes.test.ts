import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { RunningService } from '../../main.js';
import { uniquePhone } from '../support/factories.js';
import { inboundRows, setupWhatsAppOrg, waitUntil, withFakeWhatsApp } from '../support/whatsappService.js';
import { inboundMessage, newWamid, postNotification, type InboundContent } from '../support/fakeWhatsApp.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fakeOpenAI.js';
import { clientOn } from '../support/smsService.js';

const OGG = readFileSync(new URL('../fixtures/audio/voice.ogg', import.meta.url));

/** The kept file's bytes, from the address staff are given (GET /media/...). */
async function fetchKept(svc: RunningService, url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(svc.url + url.slice(url.indexOf('/media/')));
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

describe("patients' voice notes, kept for staff and heard (WhatsApp)", function () {
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
    const { t, svc, pnid } = await setup();
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

    // Staff read what the patient said and can listen to it; the row says it was spoken and what the provider named.
    const [stored] = await inboundRows(svc, wamid);
    assert.equal(stored!.content, 'Hola, quiero pedir una cita con el médico');
    assert.equal(stored!.content_type, 'voice');
    assert.equal(stored!.metadata.transcribed, true);
    assert.deepEqual(stored!.metadata.provider_media, [{ url: `whatsapp-media:${media.id}`, contentType: 'audio/ogg; codecs=opus' }]);
    const raw = await svc.deps.db.knex('messages').where({ id: stored!.id }).first();
    assert.match(raw.content, /^enc:v1:/, 'sealed at rest');
    const file = await svc.deps.db.knex('media_files').where({ message_id: stored!.id }).first();
    assert.match(file.data, /^enc:v1:/, 'the audio is sealed at rest');
    assert.match(file.transcription, /^enc:v1:/);

    const api = await clientOn(svc, t);
    const view = (await api.get(`/api/v1/conversations/${stored!.conversation_id}`)).body.data.messages.find((m: { id: string }) => m.id === stored!.id);
    assert.equal(view.content, 'Hola, quiero pedir una cita con el médico');
    assert.deepEqual({ ...view.metadata, url: undefined }, { url: undefined, duration: 3, format: 'ogg', size_bytes: OGG.length, transcription: 'Hola, quiero pedir una cita con el médico' });
    const kept = await fetchKept(svc, view.metadata.url);
    assert.equal(kept.status, 200);
    assert.equal(kept.type, 'audio/ogg');
    assert.deepEqual(kept.bytes, OGG, 'staff hear what the patient sent');
    const pdf = await api.get(`/api/v1/conversations/${stored!.conversation_id}/export?format=json`);
    assert.equal(pdf.status, 200);
    assert.equal(pdf.body.messages.find((m: { id: string }) => m.id === stored!.id).metadata.transcription, 'Hola, quiero pedir una cita con el médico');
  });

  it('a voice note that cannot be heard (the transcriber fails or is slow) is answered as a message without words, and kept for staff to hear', async () => {
    const { svc, pnid } = await setup();
    const media = wa.fake.addMedia(OGG, 'audio/ogg; codecs=opus');
    for (const arrange of [() => openai.setTranscription({ kind: 'error', status: 500 }), () => openai.setTranscription({ kind: 'hang', ms: 3000 })]) {
      arrange();
      const wamid = newWamid();
      const keys = await say(svc, pnid, uniquePhone(), { audio: { id: media.id, mime_type: 'audio/ogg; codecs=opus', voice: true } }, wamid);
      assert.ok(keys.includes('not_understood'), keys.join());
      const [stored] = await inboundRows(svc, wamid);
      assert.equal(stored!.content_type, 'voice');
      assert.match(stored!.content, /\/media\/org_\w+\/med_\w+\/[\w-]{43}\.ogg$/, 'its content is the address to listen to');
      assert.equal(stored!.metadata.transcribed, undefined);
      assert.deepEqual((await fetchKept(svc, stored!.content)).bytes, OGG);
    }
  });

  it('a voice note that is gone from the provider, or in a format the service does not keep (AMR), is stored as it came and answered as before', async () => {
    const { svc, pnid } = await setup();
    openai.setTranscription({ kind: 'text', text: 'quiero una cita' });
    const amr = wa.fake.addMedia(Buffer.concat([Buffer.from('#!AMR\n'), Buffer.alloc(600, 0x3c)]), 'audio/amr');
    for (const [id, type] of [['9999999999', 'audio/ogg; codecs=opus'], [amr.id, 'audio/amr']]) {
      const wamid = newWamid();
      const keys = await say(svc, pnid, uniquePhone(), { audio: { id, mime_type: type, voice: true } }, wamid);
      assert.ok(keys.includes('not_understood'), keys.join());
      const [stored] = await inboundRows(svc, wamid);
      assert.equal(stored!.content, '');
      assert.equal(stored!.content_type, 'text');
      assert.equal(await svc.deps.db.knex('media_files').where({ message_id: stored!.id }).first(), undefined);
    }
  });

  it('without speech to text, a voice note is still kept for staff to hear, and answered as a message without words', async () => {
    const { svc, pnid } = await setupWhatsAppOrg(wa.fake);
    const media = wa.fake.addMedia(OGG, 'audio/ogg; codecs=opus');
    const before = openai.transcriptions.length;
    const wamid = newWamid();
    const keys = await say(svc, pnid, uniquePhone(), { audio: { id: media.id, mime_type: 'audio/ogg; codecs=opus', voice: true } }, wamid);
    assert.ok(keys.includes('not_understood'), keys.join());
    const [stored] = await inboundRows(svc, wamid);
    assert.equal(stored!.content_type, 'voice');
    assert.deepEqual((await fetchKept(svc, stored!.content)).bytes, OGG);
    assert.equal(openai.transcriptions.length, before, 'nothing was sent to a transcriber');
  });

  it('an image is not sent to the transcriber', async () => {
    const { svc, pnid } = await setup();
    const before = openai.transcriptions.length;
    const keys = await say(svc, pnid, uniquePhone(), { image: { id: wa.fake.addMedia(OGG, 'image/jpeg').id, mime_type: 'image/jpeg' } });
    assert.ok(keys.includes('not_understood'));
    assert.equal(openai.transcriptions.length, before);
  });
});
