import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildPatient, buildConversation, insertConversation, type TestOrg } from '../support/factories.js';
import { startExtraService } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { csvRows, pdfText } from '../support/exports.js';

const day = (iso: string) => new Date(iso);
const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id);

describe('/api/v1/conversations/:id/export', () => {
  it('GET /conversations/:id/export returns the conversation as a downloadable JSON file equal to GET /conversations/:id', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t, { inbound: ['Hola', 'Quisiera una cita'] });
    await queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, {
      conversationId: conv.id, patientId: conv.patient_id, channel: conv.channel, to: conv.channel_address,
      text: '¿Qué día le va bien?', sender: 'assistant', options: [{ value: 'mon', label: 'Lunes' }],
    });
    const res = await t.admin.client.get(`/api/v1/conversations/${conv.id}/export`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${conv.id}.json"`);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const detail = await t.admin.client.get(`/api/v1/conversations/${conv.id}`);
    assert.deepEqual(res.body, detail.body.data);
    assert.deepEqual(res.body.messages.map((m: { content: string }) => m.content), ['Hola', 'Quisiera una cita', '¿Qué día le va bien?']);
    const explicit = await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=json`);
    assert.deepEqual(explicit.body, detail.body.data);
  });

  it('GET /conversations/:id/export?format=csv returns one row per message with a header row; commas, quotes, newlines and accents round-trip', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t, { name: 'José "Pepe" García, Jr.' });
    const tricky = 'Hola, doctor.\nTengo "fiebre"; ¿puedo ir hoy?\r\nGràcies';
    const conv = await insertConversation(t, {
      startedAt: day('2025-03-10T09:00:00Z'), patient, language: 'es', channel: 'whatsapp',
      messages: [tricky, { content: 'Claro, le busco una cita.', sender: 'assistant' }, 'नमस्ते, मुझे डॉक्टर से मिलना है'],
    });
    const res = await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=csv`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${conv.id}.csv"`);
    const rows = csvRows(res);
    assert.equal(rows.length, 3);
    assert.deepEqual(rows.map((r) => r.message_id), conv.messageIds);
    assert.deepEqual(rows[0], {
      conversation_id: conv.id, message_id: conv.messageIds[0], timestamp: '2025-03-10T09:00:01.000Z', patient_id: patient.id,
      patient_name: 'José "Pepe" García, Jr.', channel: 'whatsapp', language: 'es', direction: 'inbound', sender: 'patient',
      content_type: 'text', status: 'received', content: tricky, transcription: '',
    });
    assert.equal(rows[1].sender, 'assistant');
    assert.equal(rows[1].status, 'delivered');
    assert.equal(rows[2].content, 'नमस्ते, मुझे डॉक्टर से मिलना है');
  });

  it('GET /conversations/:id/export?format=csv prefixes cells that would start a spreadsheet formula with an apostrophe', async () => {
    const t = await createTestOrg();
    const dangerous = ['=HYPERLINK("http://evil.test","click")', '+34 600 000 000', '-2+3', '@SUM(A1:A9)', '\tTAB', '\rCR', '=1+1'];
    const conv = await insertConversation(t, { startedAt: day('2025-03-10T09:00:00Z'), messages: [...dangerous, 'Hola = adiós'] });
    const rows = csvRows(await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=csv`));
    assert.deepEqual(rows.map((r) => r.content), [...dangerous.map((d) => `'${d}`), 'Hola = adiós']);
  });

  it('GET /conversations/:id/export?format=pdf returns a PDF transcript: clinic, patient, accented Spanish and Devanagari text, times in the organization zone', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const patient = await buildPatient(t, { name: 'Núria Puigdomènech' });
    const conv = await insertConversation(t, {
      startedAt: day('2025-01-15T10:00:00Z'), patient, language: 'es', status: 'closed',
      messages: ['¿Podría cambiar mi cita al miércoles? Gràcies per la col·laboració', { content: 'Por supuesto, ¿a qué hora?', sender: 'assistant' }, 'नमस्ते'],
    });
    const res = await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=pdf`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/pdf');
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${conv.id}.pdf"`);
    const { pages, text } = await pdfText(res.bytes);
    assert.equal(pages, 1);
    for (const expected of [t.org.name, 'Núria Puigdomènech', patient.id, 'SMS', 'Spanish (es)', 'Closed', 'Europe/Madrid',
      '¿Podría cambiar mi cita al miércoles? Gràcies per la col·laboració', 'Por supuesto, ¿a qué hora?', 'नमस्ते', 'Assistant · delivered', 'Page 1 of 1']) {
      assert.ok(text.includes(expected), `the transcript shows ${JSON.stringify(expected)}:\n${text}`);
    }
    // 10:00:01 UTC is 11:00 in Madrid in January.
    assert.ok(text.includes('2025-01-15 11:00 · Núria Puigdomènech (patient)'), text);
    assert.ok(!text.includes('2025-01-15 10:00 ·'), 'message times are local, not UTC');
  });

  it('GET /conversations/:id/export?format=pdf breaks a long conversation into numbered pages', async () => {
    const t = await createTestOrg();
    const messages = Array.from({ length: 60 }, (_, i) => `Mensaje número ${i + 1}: ${'una línea bastante larga de texto para llenar la página '.repeat(3)}`);
    const conv = await insertConversation(t, { startedAt: day('2025-02-01T08:00:00Z'), messages });
    const { pages, text } = await pdfText((await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=pdf`)).bytes);
    assert.ok(pages > 1, `${pages} pages`);
    assert.ok(text.includes(`Page ${pages} of ${pages}`), 'every page is numbered');
    assert.ok(text.includes('Mensaje número 1:') && text.includes('Mensaje número 60:'), 'the first and last messages are there');
  });

  it('GET /conversations/:id/export answers 404 for another organization or a deleted conversation, 403 for a provider, 400 naming format', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t);
    const other = await createTestOrg();
    const foreign = await other.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=pdf`);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error.code, 'NOT_FOUND');

    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const forbidden = await provider.client.get(`/api/v1/conversations/${conv.id}/export`);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.details.required_permission, 'conversation.export');
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    assert.equal((await staff.client.get(`/api/v1/conversations/${conv.id}/export?format=csv`)).status, 200);

    const bad = await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=xml`);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.fields.map((f: { field: string }) => f.field), ['format']);
    assert.equal((await new ApiClient(t.svc.url).get(`/api/v1/conversations/${conv.id}/export`)).status, 401);

    assert.equal((await t.admin.client.delete(`/api/v1/conversations/${conv.id}`)).status, 200);
    const deleted = await t.admin.client.get(`/api/v1/conversations/${conv.id}/export?format=csv`);
    assert.equal(deleted.status, 404);
    assert.equal(deleted.body.error.code, 'NOT_FOUND');
  });
});

describe('/api/v1/conversations/export', () => {
  async function rangeFixture(): Promise<{ t: TestOrg; inRange: string[]; all: Record<string, string> }> {
    const t = await createTestOrg();
    const es = await buildPatient(t, { name: 'Ana López', preferred_language: 'es' });
    const hi = await buildPatient(t, { name: 'Ravi Kumar', preferred_language: 'hi' });
    const before = await insertConversation(t, { startedAt: day('2025-04-30T23:59:00Z'), patient: es, messages: ['antes'] });
    const first = await insertConversation(t, { startedAt: day('2025-05-01T00:00:00Z'), patient: es, messages: ['primero', 'segundo'] });
    const closedWeb = await insertConversation(t, { startedAt: day('2025-05-10T12:00:00Z'), patient: hi, channel: 'webchat', status: 'closed', messages: ['नमस्ते'] });
    const lastDay = await insertConversation(t, { startedAt: day('2025-05-31T23:58:00Z'), patient: es, messages: ['último'] });
    const after = await insertConversation(t, { startedAt: day('2025-06-01T00:00:00Z'), patient: es, messages: ['después'] });
    return {
      t, inRange: [first.id, closedWeb.id, lastDay.id],
      all: { before: before.id, first: first.id, closedWeb: closedWeb.id, lastDay: lastDay.id, after: after.id, es: es.id, hi: hi.id },
    };
  }

  it('GET /conversations/export streams CSV rows (chunked, no Content-Length) of this organization\'s conversations started in the range only', async () => {
    const { t, inRange, all } = await rangeFixture();
    const other = await createTestOrg();
    await insertConversation(other, { startedAt: day('2025-05-15T10:00:00Z'), messages: ['de otra clínica'] });
    const res = await t.admin.client.get('/api/v1/conversations/export?start_date=2025-05-01&end_date=2025-05-31');
    assert.equal(res.status, 200, res.text); // not answered by /conversations/:id with id "export"
    assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="conversations_2025-05-01_2025-05-31.csv"');
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    assert.equal(res.headers.get('content-length'), null);
    const rows = csvRows(res);
    assert.deepEqual([...new Set(rows.map((r) => r.conversation_id))], inRange, 'in range, oldest first; a date-only end_date covers that whole day');
    assert.deepEqual(rows.map((r) => r.content), ['primero', 'segundo', 'नमस्ते', 'último']);
    assert.equal(rows[0].patient_name, 'Ana López');
    assert.ok(!rows.some((r) => [all.before, all.after].includes(r.conversation_id)));

    const instants = await t.admin.client.get('/api/v1/conversations/export?start_date=2025-05-01T00:00:00Z&end_date=2025-05-10T12:00:00Z');
    assert.deepEqual([...new Set(csvRows(instants).map((r) => r.conversation_id))], [all.first, all.closedWeb], 'a date-time end_date is inclusive');
  });

  it('GET /conversations/export applies the list filters: status, channel, patient_id and language', async () => {
    const { t, all } = await rangeFixture();
    const convIds = async (q: string) => {
      const res = await t.admin.client.get(`/api/v1/conversations/export?start_date=2025-05-01&end_date=2025-05-31&format=json&${q}`);
      assert.equal(res.status, 200, res.text);
      return ids(res.body);
    };
    assert.deepEqual(await convIds('status=closed'), [all.closedWeb]);
    assert.deepEqual(await convIds('status=bot'), [all.first, all.lastDay]);
    assert.deepEqual(await convIds('channel=webchat'), [all.closedWeb]);
    assert.deepEqual(await convIds(`patient_id=${all.es}`), [all.first, all.lastDay]);
    assert.deepEqual(await convIds('language=hi'), [all.closedWeb]);
    assert.deepEqual(await convIds('language=ca'), []);
  });

  it('GET /conversations/export?format=json|ndjson streams every conversation as GET /conversations/:id answers it, across several batches', async function () {
    this.timeout(60_000);
    const svc = await startExtraService({ EXPORT_BATCH_SIZE: '7' }); // 7 conversations and 35 messages per query
    const t = await createTestOrg({ svc });
    const patient = await buildPatient(t);
    const made: Array<{ id: string; messageIds: string[] }> = [];
    for (let i = 0; i < 40; i++) {
      const count = (i * 7) % 16; // 0..15 messages, some conversations with none
      const messages = Array.from({ length: count }, (_, j) => (j % 2 ? { content: `respuesta ${i}.${j}`, sender: 'assistant' as const } : `mensaje ${i}.${j}, "con" comas`));
      made.push(await insertConversation(t, { startedAt: new Date(Date.UTC(2025, 6, 1) + i * 3_600_000), patient, messages }));
    }
    const total = made.reduce((n, c) => n + c.messageIds.length, 0);
    assert.ok(total > 250, `${total} messages`);
    const range = 'start_date=2025-07-01&end_date=2025-07-31';

    const json = await t.admin.client.get(`/api/v1/conversations/export?${range}&format=json`);
    assert.equal(json.status, 200);
    assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(json.headers.get('transfer-encoding'), 'chunked');
    assert.deepEqual(ids(json.body), made.map((c) => c.id));
    assert.deepEqual(json.body.map((c: { messages: Array<{ id: string }> }) => ids(c.messages)), made.map((c) => c.messageIds));
    for (const i of [0, 1, 6, 7, 20, 39]) {
      assert.deepEqual(json.body[i], (await t.admin.client.get(`/api/v1/conversations/${made[i].id}`)).body.data, `conversation ${i} as GET answers it`);
    }

    const ndjson = await t.admin.client.get(`/api/v1/conversations/export?${range}&format=ndjson`);
    assert.equal(ndjson.status, 200);
    assert.equal(ndjson.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
    const lines = ndjson.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, json.body);

    const csv = csvRows(await t.admin.client.get(`/api/v1/conversations/export?${range}`));
    assert.deepEqual(csv.map((r) => r.message_id), made.flatMap((c) => c.messageIds));
  });

  it('GET /conversations/export answers 400 naming start_date, end_date or format, and 403 for a provider', async () => {
    const t = await createTestOrg();
    const fields = async (q: string) => {
      const res = await t.admin.client.get(`/api/v1/conversations/export?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.body.error.code, 'VALIDATION_ERROR');
      return res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    };
    assert.deepEqual(await fields(''), ['end_date', 'start_date']);
    assert.deepEqual(await fields('start_date=2025-01-01'), ['end_date']);
    assert.deepEqual(await fields('end_date=2025-01-01'), ['start_date']);
    assert.deepEqual(await fields('start_date=2025-02-01&end_date=2025-01-31'), ['end_date'], 'end before start');
    assert.deepEqual(await fields('start_date=2024-01-01&end_date=2025-01-01'), ['end_date'], 'more than 366 days');
    assert.deepEqual(await fields('start_date=2025-01-01&end_date=2025-01-31&format=pdf'), ['format']);
    assert.deepEqual(await fields('start_date=yesterday&end_date=2025-01-31'), ['start_date']);
    const year = await t.admin.client.get('/api/v1/conversations/export?start_date=2024-01-01&end_date=2024-12-31');
    assert.equal(year.status, 200, 'a leap year of 366 days is accepted');
    assert.deepEqual(csvRows(year), [], 'no conversations: the header row alone');
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const forbidden = await provider.client.get('/api/v1/conversations/export?start_date=2025-01-01&end_date=2025-01-31');
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.details.required_permission, 'conversation.export');
  });

  it('GET /conversations/export stops reading the database when the client goes away', async function () {
    this.timeout(60_000);
    const svc = await startExtraService({ EXPORT_BATCH_SIZE: '2' });
    const t = await createTestOrg({ svc });
    const patient = await buildPatient(t);
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 40; i++) {
      await insertConversation(t, { startedAt: new Date(Date.UTC(2025, 7, 1) + i * 60_000), patient, messages: Array.from({ length: 5 }, (_, j) => `${i}.${j} ${big}`) });
    }
    // 40 conversations, 2 per query: a complete export reads the conversations 21 times.
    const knex = svc.deps.db.knex;
    let reads = 0;
    const onQuery = (q: { sql: string; bindings?: unknown[] }) => {
      if (/from "conversations"/.test(q.sql) && q.bindings?.includes(t.org.id)) reads++;
    };
    knex.on('query', onQuery);
    try {
      const abort = new AbortController();
      const res = await fetch(`${svc.url}/api/v1/conversations/export?start_date=2025-08-01&end_date=2025-08-02`, {
        headers: { Authorization: `Bearer ${t.admin.token}` }, signal: abort.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      assert.ok((await reader.read()).value, 'a first chunk arrives');
      abort.abort();
      await reader.cancel().catch(() => undefined);
      let last = -1;
      while (last !== reads) {
        last = reads;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(reads < 21, `the export stopped after ${reads} of 21 reads`);
    } finally {
      knex.removeListener('query', onQuery);
    }
  });
});
