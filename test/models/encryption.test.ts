import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { parseKeyRing, UNREADABLE } from '../../lib/encryption.js';
import { openDatabase } from '../../models/db.js';
import { keyRingOf, openText, resealAllOrganizations, rewrapSealedRows, useKeyRing } from '../../models/encryption.js';
import { listConversationMessages, storeInboundMessage } from '../../models/messages.js';
import { findOrCreateOpenConversation } from '../../models/conversations.js';
import { createOrganization } from '../../models/organizations.js';
import { newId } from '../../lib/ids.js';
import { buildPatient, createTestOrg, createTestUser, insertConversation, insertRawMessage } from '../support/factories.js';
import { TEST_ENCRYPTION_KEYS } from '../support/service.js';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
/** The test run's keys (test/support/service.ts): test2 seals, test1 is the older one. */
const testRing = parseKeyRing(TEST_ENCRYPTION_KEYS);
const olderKeyOnly = parseKeyRing(TEST_ENCRYPTION_KEYS.split(',')[1]!);

async function storedContents(knex: Knex, orgId: string): Promise<string[]> {
  return (await knex('messages').where({ organization_id: orgId }).orderBy('id').pluck('content')) as string[];
}

describe('encryption at rest of message content (models/encryption.ts)', () => {
  it("stores a patient's message, the bot's replies, a staff reply, an API message and a bulk send sealed under the primary key; the API reads them in plain text", async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t, { name: 'Lucía Pérez' });
    const typed = 'Hola, quiero una cita';
    const turn = await t.svc.engine.handleInbound({
      organizationId: t.org.id, channel: 'sms', from: patient.phone!, providerMessageId: `SM${newId('message')}`, text: typed, receivedAt: new Date(),
    });
    const staffText = 'Le llamamos mañana por la mañana';
    assert.equal((await t.admin.client.post(`/api/v1/conversations/${turn.conversationId}/messages`, { content: staffText })).status, 201);
    const apiText = 'Sus resultados están listos';
    assert.equal((await t.admin.client.post('/api/v1/messages', { patient_id: patient.id, content: apiText, channel: 'sms' })).status, 202);
    assert.equal((await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: [patient.id], channel: 'sms', message: 'Cerrado el viernes, {{first_name}}' })).status, 202);

    const stored = await storedContents(t.svc.deps.db.knex, t.org.id);
    assert.ok(stored.length >= 5, `${stored.length} rows`);
    for (const content of stored) {
      assert.match(content, /^enc:v1:test2:/);
      for (const plain of [typed, staffText, apiText, 'Lucía', 'Cerrado']) assert.ok(!content.includes(plain));
    }

    const conversation = await t.admin.client.get(`/api/v1/conversations/${turn.conversationId}`);
    const contents = (conversation.body.data.messages as { content: string }[]).map((m) => m.content);
    assert.equal(contents[0], typed);
    assert.ok(contents.includes(staffText) && contents.includes(apiText), JSON.stringify(contents));
    assert.ok(contents.some((c) => c.length > 0 && !c.startsWith('enc:')) && contents.every((c) => !c.startsWith('enc:')), 'the bot replies read as text');
    const bulk = await t.admin.client.get(`/api/v1/communications?patient_id=${patient.id}`);
    assert.ok((bulk.body.data as { message: string }[]).some((m) => m.message === 'Cerrado el viernes, Lucía'), JSON.stringify(bulk.body.data));
  });

  it('re-seals rows from before encryption and rows of an older key under the primary, in batches; a row no key opens stays as it is', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const conv = await insertConversation(t, { startedAt: new Date('2031-01-01T10:00:00Z'), messages: [] });
    const where = { conversationId: conv.id, patientId: conv.patientId };
    const plain = await insertRawMessage(t, 'Escrito antes del cifrado', where);
    const older = await insertRawMessage(t, olderKeyOnly.seal('Sellado con la clave anterior'), where);
    const lost = parseKeyRing(`gone:${key(7)}`).seal('Sellado con una clave retirada');
    const unreadable = await insertRawMessage(t, lost, where);
    const current = await insertRawMessage(t, testRing.seal('Ya con la clave actual'), where);

    let afterId: string | undefined;
    let rewrapped = 0;
    let batches = 0;
    do {
      const batch = await rewrapSealedRows(knex, { organizationId: t.org.id }, { afterId, limit: 2 });
      rewrapped += batch.rewrapped;
      afterId = batch.nextAfterId ?? undefined;
      batches++;
    } while (afterId);
    assert.equal(rewrapped, 2);
    assert.equal(batches, 2, 'a full batch of 2, then the last');

    const rows = new Map((await knex('messages').whereIn('id', [plain, older, unreadable, current]).select('id', 'content')).map((r: { id: string; content: string }) => [r.id, r.content]));
    assert.match(rows.get(plain)!, /^enc:v1:test2:/);
    assert.match(rows.get(older)!, /^enc:v1:test2:/);
    assert.equal(rows.get(unreadable), lost, 'kept for the key that opens it');
    const read = (await listConversationMessages(knex, { organizationId: t.org.id }, conv.id)).map((m) => m.content);
    assert.deepEqual(read, ['Escrito antes del cifrado', 'Sellado con la clave anterior', UNREADABLE, 'Ya con la clave actual']);

    // The housekeeping job's pass over every organization finds another clinic's row from before encryption.
    const other = await createTestOrg();
    const otherConv = await insertConversation(other, { startedAt: new Date('2031-01-01T10:00:00Z'), messages: [] });
    const otherPlain = await insertRawMessage(other, 'Otra clínica', { conversationId: otherConv.id, patientId: otherConv.patientId });
    assert.ok(await resealAllOrganizations(knex, { maxRows: 100_000 }) >= 1);
    const resealed = (await knex('messages').where({ id: otherPlain }).first()) as { content: string };
    assert.equal(testRing.open(resealed.content), 'Otra clínica');
    assert.match(resealed.content, /^enc:v1:test2:/);
  });

  it('GET /system/encryption/status reports the key ring, the rotation dates and how much of the organization is sealed; a provider may not read it', async () => {
    const t = await createTestOrg();
    const sealedConv = await insertConversation(t, { startedAt: new Date('2031-02-01T10:00:00Z'), messages: ['Hola', { content: '¿En qué puedo ayudarle?', sender: 'assistant' }] });
    const mixedConv = await insertConversation(t, { startedAt: new Date('2031-02-02T10:00:00Z'), messages: ['Sellado'] });
    await insertRawMessage(t, 'Escrito antes del cifrado', { conversationId: mixedConv.id, patientId: mixedConv.patientId });

    const before = await t.admin.client.get('/api/v1/system/encryption/status');
    assert.equal(before.status, 200);
    const s = before.body.data;
    assert.equal(s.enabled, true);
    assert.equal(s.algorithm, 'aes-256-gcm');
    assert.equal(s.primary_key_id, 'test2');
    assert.deepEqual(s.key_ids, ['test2', 'test1']);
    assert.equal(s.key_rotation_days, 30);
    assert.ok(s.last_rotation, 'recorded when the service first sealed with test2');
    assert.equal(new Date(s.next_rotation).getTime() - new Date(s.last_rotation).getTime(), 30 * 86_400_000);
    assert.deepEqual(s.messages, { total: 4, encrypted: 3, under_primary_key: 3, plaintext: 1 });
    assert.equal(s.rotation_complete, false);
    assert.equal(s.encrypted_conversations, 1, `only ${sealedConv.id} is sealed throughout`);
    assert.equal(s.encrypted_patients, 1);
    assert.ok(!JSON.stringify(s).includes(key(2)) && !JSON.stringify(s).includes(TEST_ENCRYPTION_KEYS.split(',')[0]!.split(':')[1]!), 'no key material');

    await rewrapSealedRows(t.svc.deps.db.knex, { organizationId: t.org.id });
    const after = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    assert.deepEqual(after.messages, { total: 4, encrypted: 4, under_primary_key: 4, plaintext: 0 });
    assert.equal(after.rotation_complete, true);
    assert.equal(after.encrypted_conversations, 2);
    assert.equal(after.encrypted_patients, 2);

    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    assert.equal((await provider.client.get('/api/v1/system/encryption/status')).status, 403);
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    assert.equal((await staff.client.get('/api/v1/system/encryption/status')).status, 200);
  });

  it('ticket comments are sealed too: the API reads them, the status counts them, and re-sealing covers them', async () => {
    const t = await createTestOrg();
    const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Billing question' })).body.data;
    const text = 'El paciente pide la factura de su ecografía';
    assert.equal((await t.admin.client.post(`/api/v1/tickets/${ticket.id}/comments`, { content: text })).status, 201);
    const knex = t.svc.deps.db.knex;
    const [stored] = (await knex('ticket_comments').where({ ticket_id: ticket.id }).pluck('content')) as string[];
    assert.match(stored!, /^enc:v1:test2:/);
    assert.ok(!stored!.includes('factura'));
    const detail = await t.admin.client.get(`/api/v1/tickets/${ticket.id}`);
    assert.deepEqual((detail.body.data.comments as { content: string }[]).map((c) => c.content), [text]);

    // A comment from before encryption: counted as plaintext until the job seals it.
    await knex('ticket_comments').insert({ id: newId('ticketComment'), organization_id: t.org.id, ticket_id: ticket.id, author_type: 'user', content: 'Nota antigua' });
    const before = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    assert.deepEqual(before.ticket_comments, { total: 2, encrypted: 1, under_primary_key: 1, plaintext: 1 });
    assert.equal(before.rotation_complete, false);
    assert.equal((await rewrapSealedRows(knex, { organizationId: t.org.id }, { column: 'ticket_comments.content' })).rewrapped, 1);
    const after = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    assert.deepEqual(after.ticket_comments, { total: 2, encrypted: 2, under_primary_key: 2, plaintext: 0 });
    assert.equal(after.rotation_complete, true);
    const comments = (await t.admin.client.get(`/api/v1/tickets/${ticket.id}`)).body.data.comments as { content: string }[];
    assert.deepEqual(comments.map((c) => c.content).sort(), ['Nota antigua', text].sort());
  });

  it('a rotation: with a new key first, new content is sealed with it, older content still reads, and the job moves it; a database without keys shows sealed content as unreadable', async () => {
    const db = await openDatabase({ url: process.env.DATABASE_URL, dataDir: 'memory://', poolMax: 2, keyRing: parseKeyRing(`r1:${key(11)}`) });
    try {
      const knex = db.knex;
      const org = await createOrganization(knex, { name: 'Rotating Clinic', timeZone: 'Europe/Madrid' });
      const scope = { organizationId: org.id };
      const conv = await findOrCreateOpenConversation(knex, scope, { channel: 'sms', address: '+34600000001', patientId: null, language: 'es', idleMinutes: 60, now: new Date() });
      const store = (text: string) => storeInboundMessage(knex, scope, {
        conversationId: conv.id, patientId: null, channel: 'sms', from: '+34600000001', text, providerMessageId: newId('message'), receivedAt: new Date(),
      });
      await store('Antes de rotar');

      useKeyRing(knex, parseKeyRing(`r2:${key(12)},r1:${key(11)}`));
      const fresh = await store('Después de rotar');
      assert.equal(fresh.message.content, 'Después de rotar', 'returned in plain text');
      assert.deepEqual((await storedContents(knex, org.id)).map((c) => c.split(':')[2]), ['r1', 'r2']);
      assert.deepEqual((await listConversationMessages(knex, scope, conv.id)).map((m) => m.content), ['Antes de rotar', 'Después de rotar']);

      assert.equal((await rewrapSealedRows(knex, scope)).rewrapped, 1);
      assert.deepEqual((await storedContents(knex, org.id)).map((c) => c.split(':')[2]), ['r2', 'r2']);

      // The old key can go now; without any key the content is unreadable, never shown as ciphertext.
      useKeyRing(knex, null);
      assert.equal(keyRingOf(knex), undefined);
      assert.deepEqual((await listConversationMessages(knex, scope, conv.id)).map((m) => m.content), [UNREADABLE, UNREADABLE]);
      assert.equal(openText(knex, 'plain as written'), 'plain as written');
    } finally {
      await db.close();
    }
  });
});
