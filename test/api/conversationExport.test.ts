import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { createTestOrg, createTestUser, buildPatient, buildConversation, insertConversation } from '../support/factories.js';
import { ApiClient, type ApiResponse } from '../support/client.js';
import { queueOutboundMessage } from '../../models/messages.js';

type Row = Record<string, string>;
const COLUMNS = ['conversation_id', 'message_id', 'timestamp', 'patient_id', 'patient_name', 'channel', 'language', 'direction', 'sender', 'content_type', 'status', 'content'];

function csvRows(res: ApiResponse): Row[] {
  assert.ok(res.text.startsWith('\uFEFF'), 'a UTF-8 byte order mark for spreadsheets');
  const header = parse(res.text, { bom: true, to_line: 1 }) as string[][];
  assert.deepEqual(header[0], COLUMNS);
  return parse(res.text, { bom: true, columns: true }) as Row[];
}

async function pdfText(bytes: Buffer): Promise<{ pages: number; text: string }> {
  assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
  const doc = await getDocument({ data: new Uint8Array(bytes), verbosity: 0 }).promise;
  let text = '';
  for (let p = 1; p <= doc.numPages; p++) {
    const content = await (await doc.getPage(p)).getTextContent();
    for (const item of content.items) if ('str' in item) text += item.str + (item.hasEOL ? '\n' : '');
  }
  return { pages: doc.numPages, text };
}

const day = (iso: string) => new Date(iso);

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
      content_type: 'text', status: 'received', content: tricky,
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
