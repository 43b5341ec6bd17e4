import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { parseKeyRing } from '../../lib/encryption.js';
import { resealAllOrganizations } from '../../models/encryption.js';
import { newId } from '../../lib/ids.js';
import { buildDoctor, buildPatient, createTestOrg } from '../support/factories.js';
import { TEST_ENCRYPTION_KEYS } from '../support/service.js';
import { startWebhookReceiver } from '../support/webhookReceiver.js';

/** The test run's keys (test/support/service.ts): test2 seals. */
const testRing = parseKeyRing(TEST_ENCRYPTION_KEYS);
/** The older key alone, to seal a value as it was before a rotation. */
const olderRing = parseKeyRing(TEST_ENCRYPTION_KEYS.split(',')[1]!);
const inTwoDays = (hhmm: string) => `${new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10)}T${hhmm}:00.000Z`;

async function storedValue(knex: Knex, table: string, column: string, id: string): Promise<string> {
  return ((await knex(table).where({ id }).first(column)) as Record<string, string>)[column]!;
}

function assertSealed(stored: string, plain: string): void {
  assert.match(stored, /^enc:v1:test2:/);
  assert.equal(testRing.open(stored), plain);
}

describe('encryption at rest of notes, reasons and ticket descriptions (models/encryption.ts)', () => {
  it('POST and PATCH /patients store the notes sealed; GET /patients and /patients/:id read them in plain text', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const notes = 'Alérgica a la penicilina';
    const created = await t.admin.client.post('/api/v1/patients', { name: 'Marta Vidal', phone: '+34611223344', notes });
    assert.equal(created.status, 201);
    assert.equal(created.body.data.notes, notes);
    assertSealed(await storedValue(knex, 'patients', 'notes', created.body.data.id), notes);

    const changed = 'Alérgica a la penicilina y al látex';
    const patched = await t.admin.client.patch(`/api/v1/patients/${created.body.data.id}`, { notes: changed });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.notes, changed);
    assertSealed(await storedValue(knex, 'patients', 'notes', created.body.data.id), changed);
    assert.equal((await t.admin.client.get(`/api/v1/patients/${created.body.data.id}`)).body.data.notes, changed);
    const listed = (await t.admin.client.get('/api/v1/patients?search=Marta')).body.data as { notes: string }[];
    assert.deepEqual(listed.map((p) => p.notes), [changed]);

    // Clearing them stores null, not a sealed empty value.
    await t.admin.client.patch(`/api/v1/patients/${created.body.data.id}`, { notes: null });
    assert.equal(await storedValue(knex, 'patients', 'notes', created.body.data.id), null);
  });

  it("an appointment's reason and notes are stored sealed on booking and on edit; the list, the detail and a reschedule read them in plain text", async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const [doctor, patient] = [await buildDoctor(t), await buildPatient(t)];
    const reason = 'Dolor lumbar desde hace una semana';
    const booked = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: inTwoDays('10:00'), reason, notes: 'Trae la resonancia' });
    assert.equal(booked.status, 201);
    const id = booked.body.data.id as string;
    assert.equal(booked.body.data.reason, reason);
    assert.equal(booked.body.data.notes, 'Trae la resonancia');
    assertSealed(await storedValue(knex, 'appointments', 'reason', id), reason);
    assertSealed(await storedValue(knex, 'appointments', 'notes', id), 'Trae la resonancia');

    const edited = await t.admin.client.patch(`/api/v1/appointments/${id}`, { notes: 'Resonancia recibida' });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.data.notes, 'Resonancia recibida');
    assertSealed(await storedValue(knex, 'appointments', 'notes', id), 'Resonancia recibida');

    const moved = await t.admin.client.patch(`/api/v1/appointments/${id}`, { start_time: inTwoDays('12:00') });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.data.reason, reason);
    const listed = (await t.admin.client.get(`/api/v1/appointments?patient_id=${patient.id}`)).body.data as { reason: string; notes: string }[];
    assert.deepEqual(listed.map((a) => [a.reason, a.notes]), [[reason, 'Resonancia recibida']]);
    assertSealed(await storedValue(knex, 'appointments', 'reason', id), reason);
  });

  it('ticket descriptions are stored sealed, from the API and from a handoff; GET /tickets?search= still finds words in them', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const created = await t.admin.client.post('/api/v1/tickets', { title: 'Invoice', category: 'billing', description: 'Pide copia de la factura de la ecografía' });
    assert.equal(created.status, 201);
    assert.equal(created.body.data.description, 'Pide copia de la factura de la ecografía');
    assertSealed(await storedValue(knex, 'tickets', 'description', created.body.data.id), 'Pide copia de la factura de la ecografía');
    const other = (await t.admin.client.post('/api/v1/tickets', { title: 'Ecografía room', description: 'Projector broken' })).body.data;
    await t.admin.client.post('/api/v1/tickets', { title: 'Parking', description: 'No spaces left' });

    const patient = await buildPatient(t, { preferred_language: 'en' });
    const turn = await t.svc.engine.handleInbound({
      organizationId: t.org.id, channel: 'sms', from: patient.phone!, providerMessageId: `SM${newId('message')}`,
      text: 'I want to talk to a person about my ultrasound bill', receivedAt: new Date(),
    });
    const handoff = (await knex('tickets').where({ conversation_id: turn.conversationId }).first('id', 'description')) as { id: string; description: string };
    assert.ok(handoff, 'the handoff opened a ticket');
    assert.match(handoff.description, /^enc:v1:test2:/);
    assert.ok(!handoff.description.includes('ultrasound'));

    const ids = async (q: string) => ((await t.admin.client.get(`/api/v1/tickets?${q}`)).body.data as { id: string }[]).map((x) => x.id).sort();
    assert.deepEqual(await ids('search=ECOGRAF'), [created.body.data.id, other.id].sort(), 'a word of a sealed description, and one of a title');
    assert.deepEqual(await ids('search=ultrasound'), [handoff.id]);
    assert.deepEqual(await ids('search=ultrasound&category=billing&status=open'), [handoff.id], 'with the other filters');
    assert.deepEqual(await ids('search=ultrasound&category=medical'), []);
    const page = await t.admin.client.get('/api/v1/tickets?search=e&limit=1');
    assert.equal(page.body.pagination.total, 4, 'the total counts description matches too');
    const detail = await t.admin.client.get(`/api/v1/tickets/${handoff.id}`);
    assert.match(detail.body.data.description, /ultrasound/);

    const patched = await t.admin.client.patch(`/api/v1/tickets/${created.body.data.id}`, { description: 'Factura enviada por correo' });
    assert.equal(patched.body.data.description, 'Factura enviada por correo');
    assertSealed(await storedValue(knex, 'tickets', 'description', created.body.data.id), 'Factura enviada por correo');
  });

  it("a ticket's resolution is stored sealed, in its column and in the ticket.resolved event, and a webhook receiver gets it in plain text", async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const receiver = await startWebhookReceiver();
    try {
      assert.equal((await t.admin.client.post('/api/v1/webhooks', { url: receiver.url, events: ['ticket.resolved'] })).status, 201);
      const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Results call' })).body.data;
      const resolution = 'Called back: the biopsy results are normal';
      const resolved = await t.admin.client.post(`/api/v1/tickets/${ticket.id}/resolve`, { resolution });
      assert.equal(resolved.status, 200);
      assert.equal(resolved.body.data.resolution, resolution);
      assertSealed(await storedValue(knex, 'tickets', 'resolution', ticket.id), resolution);
      const event = (await knex('events').where({ organization_id: t.org.id, event: 'ticket.resolved' }).first('data')) as { data: { resolution: string } };
      assertSealed(event.data.resolution, resolution);
      const [delivered] = await receiver.waitFor(1);
      assert.equal(delivered!.payload.data.resolution, resolution);
      assert.equal((await t.admin.client.get(`/api/v1/tickets/${ticket.id}`)).body.data.resolution, resolution);
      const status = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
      assert.deepEqual(status.ticket_resolutions, { total: 1, encrypted: 1, under_primary_key: 1, plaintext: 0 });
    } finally {
      await receiver.close();
    }
  });

  it('re-seals the resolutions ticket.resolved events carry, from an older key or from before encryption: the status counts them and rotation_complete waits for them', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Results call' })).body.data;
    const resolution = 'Called back: the biopsy results are normal';
    assert.equal((await t.admin.client.post(`/api/v1/tickets/${ticket.id}/resolve`, { resolution })).status, 200);
    const resolvedEvent = (await knex('events').where({ organization_id: t.org.id, event: 'ticket.resolved' }).first('id', 'data')) as { id: string; data: Record<string, unknown> };
    // As a rotation leaves it: sealed under the older key (test1). And one from before encryption, in plain text.
    await knex('events').where({ id: resolvedEvent.id }).update({ data: JSON.stringify({ ...resolvedEvent.data, resolution: olderRing.seal(resolution) }) });
    const plainEvent = newId('event');
    await knex('events').insert({
      id: plainEvent, organization_id: t.org.id, event: 'ticket.resolved', subject_id: ticket.id,
      data: JSON.stringify({ ticket_id: ticket.id, resolution: 'Resuelto por teléfono' }),
    });

    const before = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    assert.deepEqual(before.event_resolutions, { total: 2, encrypted: 1, under_primary_key: 0, plaintext: 1 });
    assert.equal(before.ticket_resolutions.under_primary_key, 1, 'the column itself is under the primary key');
    assert.equal(before.rotation_complete, false, 'the events still need the older key');

    assert.ok(await resealAllOrganizations(knex, { maxRows: 100_000 }) >= 2);
    const after = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    assert.deepEqual(after.event_resolutions, { total: 2, encrypted: 2, under_primary_key: 2, plaintext: 0 });
    assert.equal(after.rotation_complete, true);
    const stored = (await knex('events').where({ id: resolvedEvent.id }).first('data')) as { data: Record<string, unknown> };
    assertSealed(stored.data.resolution as string, resolution);
    const { resolution: _, ...rest } = stored.data;
    const { resolution: __, ...restBefore } = resolvedEvent.data;
    assert.deepEqual(rest, restBefore, 'the rest of the event is left as it was');
    assertSealed(((await knex('events').where({ id: plainEvent }).first('data')) as { data: { resolution: string } }).data.resolution, 'Resuelto por teléfono');
  });

  it('GET /system/encryption/status counts each sealed field, and the housekeeping pass re-seals notes, reasons and descriptions from before encryption', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const [doctor, patient] = [await buildDoctor(t), await buildPatient(t)];
    await t.admin.client.patch(`/api/v1/patients/${patient.id}`, { notes: 'Sellada' });
    const appointment = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: inTwoDays('10:00'), reason: 'Revisión' })).body.data;
    const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Old', description: 'Sellada' })).body.data;
    // Written before encryption: plaintext in place.
    const plainPatient = await buildPatient(t);
    await knex('patients').where({ id: plainPatient.id }).update({ notes: 'Nota antigua' });
    await knex('appointments').where({ id: appointment.id }).update({ notes: 'Nota antigua de la cita' });
    await knex('tickets').where({ id: ticket.id }).update({ description: 'Descripción antigua' });

    const before = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    assert.deepEqual(before.patient_notes, { total: 2, encrypted: 1, under_primary_key: 1, plaintext: 1 });
    assert.deepEqual(before.appointment_reasons, { total: 1, encrypted: 1, under_primary_key: 1, plaintext: 0 });
    assert.deepEqual(before.appointment_notes, { total: 1, encrypted: 0, under_primary_key: 0, plaintext: 1 });
    assert.deepEqual(before.ticket_descriptions, { total: 1, encrypted: 0, under_primary_key: 0, plaintext: 1 });
    assert.equal(before.rotation_complete, false);

    assert.ok(await resealAllOrganizations(knex, { maxRows: 100_000 }) >= 3);
    const after = (await t.admin.client.get('/api/v1/system/encryption/status')).body.data;
    for (const field of ['patient_notes', 'appointment_notes', 'appointment_reasons', 'ticket_descriptions', 'ticket_resolutions', 'event_resolutions', 'messages', 'ticket_comments']) {
      assert.equal(after[field].plaintext, 0, field);
      assert.equal(after[field].under_primary_key, after[field].total, field);
    }
    assert.equal(after.rotation_complete, true);
    assertSealed(await storedValue(knex, 'patients', 'notes', plainPatient.id), 'Nota antigua');
    assertSealed(await storedValue(knex, 'appointments', 'notes', appointment.id), 'Nota antigua de la cita');
    assert.equal((await t.admin.client.get(`/api/v1/tickets/${ticket.id}`)).body.data.description, 'Descripción antigua');
  });
});
