import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildPatient, buildDoctor, buildConversation } from '../support/factories.js';

/** Every record-addressed route, asked by another organization's admin, answers 404 and changes nothing. */
describe('tenant isolation', () => {
  it("a second organization's token gets 404 for the first one's records on every resource", async () => {
    const a = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const b = await createTestOrg();
    const api = a.admin.client;
    const patient = await buildPatient(a);
    const doctor = await buildDoctor(a);
    const start = new Date(Date.now() + 3 * 86_400_000);
    start.setUTCHours(10, 0, 0, 0);
    const apt = (await api.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: start.toISOString(), duration_minutes: 30 })).body.data;
    assert.ok(apt?.id, 'appointment created');
    const staff = await createTestUser(a.svc, a.org.id, 'staff');
    const key = (await api.post('/api/v1/api-keys', { name: 'integration' })).body.data;
    const conversation = await buildConversation(a, { patient });
    const ticket = (await api.post('/api/v1/tickets', { title: 'Billing question', category: 'billing', priority: 'medium', patient_id: patient.id })).body.data;
    const template = (await api.post('/api/v1/templates', { name: 'Hello', bodies: { en: 'Hello {{name}}' } })).body.data;
    const batch = (await api.post('/api/v1/communications/send-bulk', { patient_ids: [patient.id], channel: 'sms', message: 'Hi' })).body.data;
    for (const [what, record] of Object.entries({ key, ticket, template, batch })) assert.ok((record as { id?: string })?.id, `${what} created`);

    const day = start.toISOString().slice(0, 10);
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/patients/${patient.id}`], ['PATCH', `/api/v1/patients/${patient.id}`, { notes: 'x' }],
      ['PUT', `/api/v1/patients/${patient.id}`, { name: 'X' }], ['DELETE', `/api/v1/patients/${patient.id}`],
      ['GET', `/api/v1/doctors/${doctor.id}`], ['PATCH', `/api/v1/doctors/${doctor.id}`, { location: 'x' }],
      ['GET', `/api/v1/doctors/${doctor.id}/schedule?date=${day}`], ['DELETE', `/api/v1/doctors/${doctor.id}`],
      ['GET', `/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=${day}`],
      ['GET', `/api/v1/appointments/${apt.id}`], ['PATCH', `/api/v1/appointments/${apt.id}`, { notes: 'x' }],
      ['PUT', `/api/v1/appointments/${apt.id}`, { notes: 'x' }],
      ['POST', `/api/v1/appointments/${apt.id}/confirm`, {}], ['POST', `/api/v1/appointments/${apt.id}/cancel`, {}],
      ['POST', `/api/v1/appointments/${apt.id}/complete`, {}], ['POST', `/api/v1/appointments/${apt.id}/no-show`, {}],
      ['DELETE', `/api/v1/appointments/${apt.id}`],
      ['GET', `/api/v1/users/${staff.user.id}`], ['PATCH', `/api/v1/users/${staff.user.id}`, { first_name: 'x' }], ['DELETE', `/api/v1/users/${staff.user.id}`],
      ['DELETE', `/api/v1/api-keys/${key.id}`],
      ['GET', `/api/v1/conversations/${conversation.id}`], ['GET', `/api/v1/conversations/${conversation.id}/export?format=csv`],
      ['POST', `/api/v1/conversations/${conversation.id}/messages`, { content: 'x' }],
      ['POST', `/api/v1/conversations/${conversation.id}/handoff`, {}], ['POST', `/api/v1/conversations/${conversation.id}/resume`, {}],
      ['POST', `/api/v1/conversations/${conversation.id}/close`, {}], ['DELETE', `/api/v1/conversations/${conversation.id}`],
      ['POST', '/api/v1/messages', { patient_id: patient.id, content: 'x', channel: 'sms' }],
      ['GET', `/api/v1/tickets/${ticket.id}`], ['PATCH', `/api/v1/tickets/${ticket.id}`, { priority: 'high' }],
      ['POST', `/api/v1/tickets/${ticket.id}/comments`, { content: 'x' }], ['POST', `/api/v1/tickets/${ticket.id}/resolve`, { resolution: 'x' }],
      ['GET', `/api/v1/templates/${template.id}`], ['PATCH', `/api/v1/templates/${template.id}`, { name: 'x' }], ['DELETE', `/api/v1/templates/${template.id}`],
      ['GET', `/api/v1/communications/batches/${batch.id}`], ['POST', `/api/v1/communications/batches/${batch.id}/cancel`, {}],
      ['POST', '/api/v1/communications/send', { patient_id: patient.id, channel: 'sms', message: 'x' }],
    ];
    const wrong: string[] = [];
    for (const [method, path, body] of attempts) {
      const res = await b.admin.client.request(method, path, body === undefined ? {} : { body });
      if (res.status !== 404) wrong.push(`${method} ${path} -> ${res.status}`);
    }
    assert.deepEqual(wrong, [], 'every cross-tenant request answers 404');

    // Lists never show another organization's rows.
    for (const path of ['/patients', '/doctors', '/appointments', '/users', '/api-keys', '/conversations', '/tickets', '/templates', '/communications']) {
      const res = await b.admin.client.get(`/api/v1${path}`);
      assert.equal(res.status, 200, path);
      const ids = (res.body.data as Array<{ id: string }>).map((r) => r.id);
      for (const id of [patient.id, doctor.id, apt.id, staff.user.id, key.id, conversation.id, ticket.id, template.id]) {
        assert.ok(!ids.includes(id), `${path} leaks ${id}`);
      }
    }

    // Nothing changed for the first organization.
    const still = await api.get(`/api/v1/appointments/${apt.id}`);
    assert.equal(still.body.data.status, 'scheduled');
    assert.equal((await api.get(`/api/v1/patients/${patient.id}`)).body.data.notes, null);
    assert.equal((await api.get(`/api/v1/tickets/${ticket.id}`)).body.data.status, 'open');
  });
});
