import assert from 'node:assert/strict';
import { createTestOrg, createTestUser } from '../support/factories.js';
import { testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';

const fields = (res: { body: { error: { details: { fields: { field: string }[] } } } }) =>
  res.body.error.details.fields.map((f) => f.field).sort();

const reminder = {
  name: 'appointment_reminder',
  channel: 'sms',
  category: 'reminder',
  description: 'Day-before reminder',
  bodies: { en: 'Hi {{name}}, see you on {{date}} at {{time}} with {{doctor}}.', es: 'Hola {{name}}, le esperamos el {{date}} a las {{time}} con {{doctor}}.' },
};

describe('/api/v1/templates', () => {
  it('POST /templates creates a template and lists its languages and variables', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/templates', reminder);
    assert.equal(res.status, 201);
    assert.match(res.body.data.id, /^tpl_/);
    assert.deepEqual(res.body.data.languages, ['en', 'es']);
    assert.deepEqual(res.body.data.variables, ['name', 'date', 'time', 'doctor']);
    assert.equal(res.body.data.channel, 'sms');
    const got = await admin.client.get(`/api/v1/templates/${res.body.data.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.data.bodies, reminder.bodies);
  });

  it('POST /templates returns 400 naming bodies.es and the unknown variable', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/templates', { name: 'x', bodies: { en: 'Hi {{name}}', es: 'Hola {{nombre}}' } });
    assert.equal(res.status, 400);
    assert.deepEqual(fields(res), ['bodies.es']);
    assert.match(res.body.error.message, /\{\{nombre\}\}/);
  });

  it('POST /templates returns 400 when the languages use different variables', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/templates', { name: 'x', bodies: { en: 'Hi {{name}} at {{time}}', es: 'Hola {{name}}' } });
    assert.equal(res.status, 400);
    assert.deepEqual(fields(res), ['bodies.es']);
    assert.match(res.body.error.message, /\{\{time\}\}/);
  });

  it('POST /templates returns 400 for no body, an unknown language, a missing name and a bad channel', async () => {
    const { admin } = await createTestOrg();
    const empty = await admin.client.post('/api/v1/templates', { name: 'x', bodies: {} });
    assert.equal(empty.status, 400);
    assert.deepEqual(fields(empty), ['bodies']);
    const bad = await admin.client.post('/api/v1/templates', { bodies: { fr: 'Bonjour' }, channel: 'email' });
    assert.equal(bad.status, 400);
    const names = fields(bad);
    assert.ok(names.includes('name') && names.includes('channel') && names.some((f: string) => f.startsWith('bodies')), names.join(','));
  });

  it('POST /templates returns 409 when the name is taken in the clinic (any case)', async () => {
    const { admin } = await createTestOrg();
    assert.equal((await admin.client.post('/api/v1/templates', reminder)).status, 201);
    const dup = await admin.client.post('/api/v1/templates', { ...reminder, name: 'Appointment_Reminder' });
    assert.equal(dup.status, 409);
    const other = await createTestOrg();
    assert.equal((await other.admin.client.post('/api/v1/templates', reminder)).status, 201, 'another clinic may use the name');
  });

  it('PATCH /templates/:id merges bodies by language, re-checks variables; DELETE hides it', async () => {
    const { admin } = await createTestOrg();
    const created = await admin.client.post('/api/v1/templates', { name: 'closure', bodies: { en: 'Closed on Friday, {{name}}', es: 'Cerrado el viernes, {{name}}' } });
    const id = created.body.data.id;
    const patched = await admin.client.patch(`/api/v1/templates/${id}`, { bodies: { ca: 'Tancat divendres, {{name}}', es: null }, category: 'announcement' });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.data.languages, ['ca', 'en']);
    assert.equal(patched.body.data.category, 'announcement');
    const mismatch = await admin.client.patch(`/api/v1/templates/${id}`, { bodies: { ca: 'Tancat divendres' } });
    assert.equal(mismatch.status, 400);
    assert.deepEqual(fields(mismatch), ['bodies.ca']);
    const allGone = await admin.client.patch(`/api/v1/templates/${id}`, { bodies: { ca: null, en: null } });
    assert.equal(allGone.status, 400);
    assert.equal((await admin.client.delete(`/api/v1/templates/${id}`)).status, 200);
    assert.equal((await admin.client.get(`/api/v1/templates/${id}`)).status, 404);
    const list = await admin.client.get('/api/v1/templates');
    assert.equal(list.body.pagination.total, 0);
  });

  it('GET /templates filters by channel (templates for any channel included) and searches by name', async () => {
    const { admin } = await createTestOrg();
    await admin.client.post('/api/v1/templates', { name: 'sms only', channel: 'sms', bodies: { en: 'a' } });
    await admin.client.post('/api/v1/templates', { name: 'whatsapp only', channel: 'whatsapp', bodies: { en: 'b' } });
    await admin.client.post('/api/v1/templates', { name: 'anywhere', bodies: { en: 'c' } });
    const sms = await admin.client.get('/api/v1/templates?channel=sms');
    assert.deepEqual(sms.body.data.map((t: { name: string }) => t.name), ['anywhere', 'sms only']);
    const search = await admin.client.get('/api/v1/templates?search=whats');
    assert.deepEqual(search.body.data.map((t: { name: string }) => t.name), ['whatsapp only']);
  });

  it('a provider may read templates but not write them (403); 401 without a token; 404 for another clinic', async () => {
    const t = await createTestOrg();
    const created = await t.admin.client.post('/api/v1/templates', reminder);
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    assert.equal((await provider.client.get('/api/v1/templates')).status, 200);
    const denied = await provider.client.post('/api/v1/templates', { ...reminder, name: 'other' });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.details.required_permission, 'template.manage');
    const anonymous = new ApiClient((await testService()).url);
    assert.equal((await anonymous.get('/api/v1/templates')).status, 401);
    const other = await createTestOrg();
    assert.equal((await other.admin.client.get(`/api/v1/templates/${created.body.data.id}`)).status, 404);
    assert.equal((await other.admin.client.patch(`/api/v1/templates/${created.body.data.id}`, { name: 'x' })).status, 404);
    assert.equal((await other.admin.client.delete(`/api/v1/templates/${created.body.data.id}`)).status, 404);
  });
});
