import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestOrg, buildPatient, buildConversation, type TestOrg } from '../support/factories.js';
import { ApiClient, type ApiResponse } from '../support/client.js';
import { assertMatchesOpenApi } from '../support/openapi.js';
import { testService } from '../support/service.js';
import { clientOn, startSmsService, stopSmsServices } from '../support/smsService.js';
import { FakeTwilio } from '../support/fakeTwilio.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fakeOpenAI.js';
import { waitForStatus } from '../support/whatsappService.js';
import { parseKeyRing } from '../../lib/encryption.js';
import { rewrapSealedRows } from '../../models/encryption.js';
import { TEST_ENCRYPTION_KEYS } from '../support/service.js';
import { csvRows, pdfText } from '../support/exports.js';

const MP3 = readFileSync(new URL('../fixtures/audio/voice.mp3', import.meta.url));
const OGG = readFileSync(new URL('../fixtures/audio/voice.ogg', import.meta.url));

/** A WAV of `seconds` of 8 kHz, 16-bit mono silence. */
function wav(seconds: number): Buffer {
  const data = Buffer.alloc(8000 * 2 * seconds);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8); h.write('fmt ', 12);
  h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(8000, 24); h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write('data', 36); h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

interface VoiceForm { fields?: Record<string, string>; file?: { bytes: Buffer; name: string; type?: string } | null }

/** POST /messages/voice as multipart/form-data (fetch's FormData), the answer checked against OpenAPI. */
async function postVoice(client: ApiClient, form: VoiceForm): Promise<ApiResponse> {
  const body = new FormData();
  for (const [k, v] of Object.entries(form.fields ?? {})) body.append(k, v);
  if (form.file) body.append('audio_file', new Blob([new Uint8Array(form.file.bytes)], { type: form.file.type ?? 'application/octet-stream' }), form.file.name);
  const res = await fetch(`${client.baseUrl}/api/v1/messages/voice`, { method: 'POST', body, headers: client.token ? { Authorization: `Bearer ${client.token}` } : {} });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : null;
  assertMatchesOpenApi('POST', '/api/v1/messages/voice', res.status, res.headers.get('content-type') ?? '', parsed);
  return { status: res.status, headers: res.headers, body: parsed, text, bytes: Buffer.from(text) };
}

const fieldsOf = (res: ApiResponse) => (res.body.error.details.fields ?? [{ field: res.body.error.details.field }]).map((f: { field: string }) => f.field).sort();

async function webchatPatient(t: TestOrg) {
  const patient = await buildPatient(t);
  const conv = await buildConversation(t, { patient, channel: 'webchat' });
  return { patient, conv };
}

describe('/api/v1/messages/voice', () => {
  it('POST /messages/voice queues an MP3 for a web chat patient, and the file is served at the URL the message carries', async () => {
    const t = await createTestOrg();
    const { patient, conv } = await webchatPatient(t);
    const res = await postVoice(t.admin.client, { fields: { patient_id: patient.id }, file: { bytes: MP3, name: 'hello.mp3', type: 'audio/mpeg' } });
    assert.equal(res.status, 202, res.text);
    const data = res.body.data;
    assert.equal(data.content_type, 'voice');
    assert.equal(data.channel, 'webchat');
    assert.equal(data.conversation_id, conv.id);
    assert.equal(data.sender, 'system');
    assert.match(data.content, new RegExp(`^/media/${t.org.id}/med_[0-9A-Z]{26}/[A-Za-z0-9_-]{43}\\.mp3$`));
    assert.deepEqual(data.metadata, { url: data.content, duration: 2, format: 'mp3', size_bytes: MP3.length, transcription: null });

    const file = await fetch(t.svc.url + data.content);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'audio/mpeg');
    assert.equal(file.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), MP3);
    // A byte range, as browsers ask to play audio.
    const part = await fetch(t.svc.url + data.content, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${MP3.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), MP3.subarray(100, 200));
    const beyond = await fetch(t.svc.url + data.content, { headers: { Range: `bytes=${MP3.length}-` } });
    assert.equal(beyond.status, 416);

    // The bytes are sealed at rest, the transcription column empty.
    const row = await t.svc.deps.db.knex('media_files').where({ organization_id: t.org.id }).first();
    assert.match(row.data, /^enc:v1:/);
    assert.equal(row.message_id, data.id);
    assert.ok(!row.data.includes(MP3.subarray(0, 60).toString('base64')));
  });

  it('GET /media answers 404 for a wrong token, another organization, another format, and once the conversation is deleted', async () => {
    const t = await createTestOrg();
    const { patient, conv } = await webchatPatient(t);
    const res = await postVoice(t.admin.client, { fields: { patient_id: patient.id }, file: { bytes: OGG, name: 'note.ogg' } });
    assert.equal(res.status, 202, res.text);
    const url: string = res.body.data.content;
    const [, , org, id, file] = url.split('/');
    const token = file!.split('.')[0]!;
    const other = await createTestOrg();
    const wrongToken = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const path of [`/media/${org}/${id}/${wrongToken}.ogg`, `/media/${other.org.id}/${id}/${file}`, `/media/${org}/${id}/${token}.mp3`, `/media/${org}/${id}/short.ogg`]) {
      const r = await new ApiClient(t.svc.url).get(path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.error.code, 'NOT_FOUND');
    }
    assert.equal((await fetch(t.svc.url + url)).status, 200);
    assert.equal((await t.admin.client.delete(`/api/v1/conversations/${conv.id}`)).status, 200);
    assert.equal((await fetch(t.svc.url + url)).status, 404);
  });

  it('GET /conversations/:id lists the voice message with its duration, format and size', async () => {
    const t = await createTestOrg();
    const { patient, conv } = await webchatPatient(t);
    const sent = await postVoice(t.admin.client, { fields: { patient_id: patient.id }, file: { bytes: wav(3), name: 'x.wav' } });
    assert.equal(sent.status, 202, sent.text);
    const detail = await t.admin.client.get(`/api/v1/conversations/${conv.id}`);
    const voice = detail.body.data.messages.find((m: { id: string }) => m.id === sent.body.data.id);
    assert.equal(voice.content_type, 'voice');
    assert.deepEqual(voice.metadata, { url: sent.body.data.content, duration: 3, format: 'wav', size_bytes: wav(3).length, transcription: null });
    const text = detail.body.data.messages.find((m: { content_type: string }) => m.content_type === 'text');
    assert.equal(text.metadata, undefined);
  });

  it('POST /messages/voice returns 400 naming audio_file for a missing, empty, non-audio or oversized file, and naming the fields', async () => {
    const t = await createTestOrg();
    const { patient } = await webchatPatient(t);
    const cases: Array<[VoiceForm, string[], RegExp]> = [
      [{ fields: { patient_id: patient.id } }, ['audio_file'], /required/],
      [{ fields: { patient_id: patient.id }, file: { bytes: Buffer.alloc(0), name: 'empty.mp3' } }, ['audio_file'], /empty/],
      [{ fields: { patient_id: patient.id }, file: { bytes: Buffer.from('%PDF-1.4 not audio at all'), name: 'fake.mp3', type: 'audio/mpeg' } }, ['audio_file'], /MP3, OGG/],
      [{ fields: { patient_id: patient.id }, file: { bytes: Buffer.concat([wav(1), Buffer.alloc(5 * 1024 * 1024)]), name: 'big.wav' } }, ['audio_file'], /at most 5 MB/],
      [{ fields: { language: 'xx', channel: 'pigeon' }, file: { bytes: MP3, name: 'a.mp3' } }, ['channel', 'language', 'patient_id'], /./],
    ];
    for (const [form, fields, message] of cases) {
      const res = await postVoice(t.admin.client, form);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(fieldsOf(res), fields, res.text);
      assert.match(res.body.error.message, message);
    }
    // A JSON body is not an upload.
    const json = await t.admin.client.post('/api/v1/messages/voice', { patient_id: patient.id });
    assert.equal(json.status, 400);
    assert.deepEqual(fieldsOf(json), ['audio_file']);
    // Two files.
    const two = new FormData();
    two.append('patient_id', patient.id);
    two.append('audio_file', new Blob([new Uint8Array(MP3)]), 'a.mp3');
    two.append('audio_file', new Blob([new Uint8Array(MP3)]), 'b.mp3');
    const res = await fetch(`${t.svc.url}/api/v1/messages/voice`, { method: 'POST', body: two, headers: { Authorization: `Bearer ${t.admin.client.token}` } });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.details.fields[0].field, 'audio_file');
    assert.equal(await t.svc.deps.db.knex('media_files').where({ organization_id: t.org.id }).count('* as n').first().then((r) => Number(r!.n)), 0);
  });

  it('POST /messages/voice returns 422 naming channel where the provider could not fetch the file (no PUBLIC_URL), 404 for another organization, 401 and 403', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    const sms = await postVoice(t.admin.client, { fields: { patient_id: patient.id, channel: 'sms' }, file: { bytes: MP3, name: 'a.mp3' } });
    assert.equal(sms.status, 422, sms.text);
    assert.equal(sms.body.error.details.field, 'channel');
    assert.match(sms.body.error.message, /PUBLIC_URL/);
    const foreign = await buildPatient(await createTestOrg());
    assert.equal((await postVoice(t.admin.client, { fields: { patient_id: foreign.id, channel: 'webchat' }, file: { bytes: MP3, name: 'a.mp3' } })).status, 404);
    assert.equal((await postVoice(new ApiClient(t.svc.url), { fields: { patient_id: patient.id }, file: { bytes: MP3, name: 'a.mp3' } })).status, 401);
    const key = await t.admin.client.post('/api/v1/api-keys', { name: 'read only', scopes: ['patient.view'] });
    const denied = await postVoice(t.admin.client.as(key.body.data.key), { fields: { patient_id: patient.id }, file: { bytes: MP3, name: 'a.mp3' } });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.details.required_permission, 'communication.send');
    assert.equal(await t.svc.deps.db.knex('media_files').where({ organization_id: t.org.id }).count('* as n').first().then((r) => Number(r!.n)), 0);
  });

  it('multipart bodies are not read on other routes, and no upload reaches the disk', async () => {
    const t = await createTestOrg();
    const tmpBefore = new Set(readdirSync(tmpdir()));
    const form = new FormData();
    form.append('content', 'Hello');
    form.append('audio_file', new Blob([new Uint8Array(MP3)]), 'a.mp3');
    const res = await fetch(`${t.svc.url}/api/v1/messages`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${t.admin.client.token}` } });
    assert.equal(res.status, 400);
    const fields = (await res.json()).error.details.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(fields, ['content', 'patient_id']);
    // Nor unauthenticated, nor on the voice route itself: the file is read in memory.
    const anonymous = await fetch(`${t.svc.url}/api/v1/auth/login`, { method: 'POST', body: form });
    assert.equal(anonymous.status, 400);
    const { patient } = await webchatPatient(t);
    assert.equal((await postVoice(t.admin.client, { fields: { patient_id: patient.id }, file: { bytes: MP3, name: 'a.mp3' } })).status, 202);
    const sizeOf = (f: string) => { try { return statSync(join(tmpdir(), f)).size; } catch { return -1; } }; // other processes' files come and go
    assert.deepEqual(readdirSync(tmpdir()).filter((f) => !tmpBefore.has(f) && sizeOf(f) === MP3.length), []);
  });

  it('re-sealing after a key rotation moves a voice message to the primary key, and it is served the same', async () => {
    const t = await createTestOrg();
    const { patient } = await webchatPatient(t);
    const res = await postVoice(t.admin.client, { fields: { patient_id: patient.id }, file: { bytes: OGG, name: 'a.ogg' } });
    const db = t.svc.deps.db.knex;
    // As if stored before the rotation, under the older key.
    const older = parseKeyRing(TEST_ENCRYPTION_KEYS.split(',')[1]!);
    await db('media_files').where({ organization_id: t.org.id }).update({ data: older.seal(OGG.toString('base64')) });
    const before = await t.admin.client.get('/api/v1/system/encryption/status');
    assert.deepEqual(before.body.data.voice_messages, { total: 1, encrypted: 1, under_primary_key: 0, plaintext: 0 });
    assert.equal(before.body.data.rotation_complete, false);
    assert.equal((await rewrapSealedRows(db, { organizationId: t.org.id }, { column: 'media_files.data' })).rewrapped, 1);
    const after = await t.admin.client.get('/api/v1/system/encryption/status');
    assert.deepEqual(after.body.data.voice_messages, { total: 1, encrypted: 1, under_primary_key: 1, plaintext: 0 });
    assert.deepEqual(Buffer.from(await (await fetch(t.svc.url + res.body.data.content)).arrayBuffer()), OGG);
  });

  describe('sent through a provider, transcribed', () => {
    let twilio: FakeTwilio;
    let openai: FakeOpenAI;
    before(async () => {
      twilio = await new FakeTwilio().start();
      openai = await startFakeOpenAI();
    });
    after(async () => {
      await stopSmsServices();
      await twilio.stop();
      await openai.close();
    });

    /** A service that sends SMS through the fake Twilio and transcribes through the fake OpenAI; the shared service (same database) is its public address. */
    async function providerService(t: TestOrg) {
      const shared = await testService();
      const svc = await startSmsService(twilio, [t.org.id], { env: { PUBLIC_URL: shared.url, OPENAI_BASE_URL: openai.baseURL, OPENAI_TRANSCRIPTION_TIMEOUT_MS: '500' } });
      return { svc, client: await clientOn(svc, t), publicUrl: shared.url };
    }

    it('POST /messages/voice transcribes an OGG in the patient language and Twilio receives its public URL, which serves the file', async () => {
      const t = await createTestOrg();
      const { svc, client, publicUrl } = await providerService(t);
      const patient = await buildPatient(t, { preferred_language: 'es' });
      openai.setTranscription({ kind: 'text', text: ' Tus resultados están listos. ' });
      const res = await postVoice(client, { fields: { patient_id: patient.id, channel: 'sms' }, file: { bytes: OGG, name: 'resultados.ogg', type: 'audio/ogg' } });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.body.data.metadata, { url: res.body.data.content, duration: 3, format: 'ogg', size_bytes: OGG.length, transcription: 'Tus resultados están listos.' });
      assert.ok(res.body.data.content.startsWith(`${publicUrl}/media/${t.org.id}/`));
      const asked = openai.transcriptions.at(-1)!;
      assert.equal(asked.fields.model, 'whisper-1');
      assert.equal(asked.fields.language, 'es');
      assert.equal(asked.fileType, 'audio/ogg');
      assert.deepEqual(asked.file, OGG);

      const row = await waitForStatus(svc, res.body.data.id, 'sent');
      assert.equal(row.attempts, 1);
      const sms = twilio.messages.find((m) => m.to === patient.phone)!;
      assert.deepEqual(sms.mediaUrls, [res.body.data.content]);
      assert.ok(!sms.fields.includes('Body'));
      // What Twilio does next: fetch the file from the URL.
      const fetched = await fetch(sms.mediaUrls[0]!);
      assert.equal(fetched.headers.get('content-type'), 'audio/ogg');
      assert.deepEqual(Buffer.from(await fetched.arrayBuffer()), OGG);
      // The transcription is sealed at rest and shown with the conversation.
      const stored = await svc.deps.db.knex('media_files').where({ organization_id: t.org.id }).first();
      assert.match(stored.transcription, /^enc:v1:/);
      const detail = await client.get(`/api/v1/conversations/${res.body.data.conversation_id}`);
      assert.equal(detail.body.data.messages.find((m: { id: string }) => m.id === res.body.data.id).metadata.transcription, 'Tus resultados están listos.');
    });

    it('conversation exports carry a voice message and its transcription: JSON metadata, the CSV transcription column, the PDF transcript', async () => {
      const t = await createTestOrg();
      const { client } = await providerService(t);
      const patient = await buildPatient(t);
      openai.setTranscription({ kind: 'text', text: 'Your results are ready' });
      const res = await postVoice(client, { fields: { patient_id: patient.id, channel: 'sms' }, file: { bytes: OGG, name: 'a.ogg' } });
      assert.equal(res.status, 202, res.text);
      const conv = res.body.data.conversation_id;
      const json = await client.get(`/api/v1/conversations/${conv}/export?format=json`);
      assert.deepEqual(json.body.messages.find((m: { id: string }) => m.id === res.body.data.id).metadata,
        { url: res.body.data.content, duration: 3, format: 'ogg', size_bytes: OGG.length, transcription: 'Your results are ready' });
      const row = csvRows(await client.get(`/api/v1/conversations/${conv}/export?format=csv`)).find((r) => r.message_id === res.body.data.id)!;
      assert.equal(row.content_type, 'voice');
      assert.equal(row.content, res.body.data.content);
      assert.equal(row.transcription, 'Your results are ready');
      const { text } = await pdfText((await client.get(`/api/v1/conversations/${conv}/export?format=pdf`)).bytes);
      assert.match(text.replace(/\s+/g, ' '), /\[Voice message \(0:03\)\] Your results are ready/);
      assert.ok(!text.includes('/media/'), 'the PDF shows the words, not the URL');
      // The organization-wide export too.
      const day = new Date().toISOString().slice(0, 10);
      const all = csvRows(await client.get(`/api/v1/conversations/export?start_date=${day}&end_date=${day}&patient_id=${patient.id}&format=csv`));
      assert.equal(all.find((r) => r.message_id === res.body.data.id)?.transcription, 'Your results are ready');
    });

    it('a transcription that fails or times out leaves the voice message untranscribed, and it is sent all the same', async () => {
      const t = await createTestOrg();
      const { svc, client } = await providerService(t);
      for (const mode of [{ kind: 'error', status: 500 }, { kind: 'hang', ms: 2000 }] as const) {
        const patient = await buildPatient(t);
        openai.setTranscription(mode);
        const res = await postVoice(client, { fields: { patient_id: patient.id, channel: 'sms', language: 'en' }, file: { bytes: MP3, name: 'a.mp3' } });
        assert.equal(res.status, 202, res.text);
        assert.equal(res.body.data.metadata.transcription, null);
        await waitForStatus(svc, res.body.data.id, 'sent');
        assert.deepEqual(twilio.messages.find((m) => m.to === patient.phone)!.mediaUrls, [res.body.data.content]);
      }
    });

    it('POST /messages/voice returns 400 naming audio_file for a WAV to Telegram, which cannot fetch one', async () => {
      const t = await createTestOrg();
      const { client } = await providerService(t);
      const patient = await buildPatient(t);
      await buildConversation(t, { patient, channel: 'telegram', address: '5550001' });
      const res = await postVoice(client, { fields: { patient_id: patient.id }, file: { bytes: wav(1), name: 'a.wav' } });
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(fieldsOf(res), ['audio_file']);
      assert.match(res.body.error.message, /OGG \(Opus\) or MP3/);
    });
  });
});
