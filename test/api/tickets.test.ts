import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildPatient, buildConversation } from '../support/factories.js';
import { ApiClient } from '../support/client.js';
import { createTicket } from '../../models/tickets.js';

describe('/api/v1/tickets', () => {
  it('POST /tickets creates a ticket numbered per organization with names of patient and assignee', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff', { first_name: 'Sarah', last_name: 'Johnson' });
    const patient = await buildPatient(t, { name: 'John Doe' });
    const conv = await buildConversation(t, { patient });
    const res = await t.admin.client.post('/api/v1/tickets', {
      patient_id: patient.id, conversation_id: conv.id, category: 'billing', priority: 'high',
      title: 'Question about recent bill', description: 'Insurance should have covered this.', assigned_to: staff.user.id,
    });
    assert.equal(res.status, 201);
    const ticket = res.body.data;
    assert.match(ticket.id, /^tkt_/);
    assert.equal(ticket.number, 1);
    assert.equal(ticket.status, 'open');
    assert.equal(ticket.patient_name, 'John Doe');
    assert.equal(ticket.assigned_to_name, 'Sarah Johnson');
    assert.equal(ticket.created_by, t.admin.user.id);
    assert.deepEqual(ticket.comments, []);
    const second = await t.admin.client.post('/api/v1/tickets', { title: 'Wi-fi in the waiting room' });
    assert.equal(second.body.data.number, 2);
    assert.equal(second.body.data.category, 'general');
    assert.equal(second.body.data.priority, 'medium');
    const otherOrg = await createTestOrg();
    assert.equal((await otherOrg.admin.client.post('/api/v1/tickets', { title: 'First there' })).body.data.number, 1, 'numbers are per organization');
    const events = await t.svc.deps.db.knex('events').where({ subject_id: ticket.id }).pluck('event');
    assert.deepEqual(events, ['ticket.created']);
  });

  it('ticket numbers stay unique when tickets are created concurrently', async () => {
    const t = await createTestOrg();
    const scope = { organizationId: t.org.id };
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      createTicket(t.svc.deps.db.knex, scope, { category: 'emergency', priority: 'urgent', title: `Chest pain ${i}`, source: 'bot' })));
    assert.deepEqual(made.map((x) => x.number).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('POST /tickets returns 400 naming fields and 422 naming a reference outside the organization', async () => {
    const t = await createTestOrg();
    const bad = await t.admin.client.post('/api/v1/tickets', { category: 'gossip', priority: 'asap' });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort(), ['category', 'priority', 'title']);
    const other = await createTestOrg();
    const foreignPatient = await buildPatient(other);
    for (const [field, value] of [['assigned_to', other.admin.user.id], ['patient_id', foreignPatient.id], ['conversation_id', 'conv_nope']]) {
      const res = await t.admin.client.post('/api/v1/tickets', { title: 'x', [field]: value });
      assert.equal(res.status, 422, field);
      assert.equal(res.body.error.details.field, field);
    }
    assert.equal((await new ApiClient(t.svc.url).post('/api/v1/tickets', { title: 'x' })).status, 401);
  });

  it('GET /tickets filters by PRM fields, searches, sorts by priority and paginates', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const patient = await buildPatient(t);
    const post = (body: Record<string, unknown>) => t.admin.client.post('/api/v1/tickets', body).then((r) => r.body.data);
    const a = await post({ title: 'Bill too high', category: 'billing', priority: 'high', patient_id: patient.id });
    const b = await post({ title: 'Reschedule please', category: 'appointment', priority: 'low', assigned_to: staff.user.id });
    const c = await post({ title: 'Lab results?', category: 'results', priority: 'urgent' });
    await t.admin.client.post(`/api/v1/tickets/${a.id}/comments`, { content: 'Looking into it' });

    const ids = async (q: string) => (await t.admin.client.get(`/api/v1/tickets?${q}`)).body.data.map((x: { id: string }) => x.id);
    assert.deepEqual(await ids('category=billing'), [a.id]);
    assert.deepEqual(await ids(`patient_id=${patient.id}`), [a.id]);
    assert.deepEqual(await ids(`assigned_to=${staff.user.id}`), [b.id]);
    assert.deepEqual(await ids('priority=urgent'), [c.id]);
    assert.deepEqual(await ids('search=reschedule'), [b.id]);
    assert.deepEqual(await ids('sort=priority:desc'), [c.id, a.id, b.id]);
    assert.deepEqual(await ids('status=resolved'), []);
    const list = await t.admin.client.get('/api/v1/tickets?limit=2');
    assert.deepEqual(list.body.pagination, { page: 1, limit: 2, total: 3, total_pages: 2 });
    const withComment = (await t.admin.client.get('/api/v1/tickets?category=billing')).body.data[0];
    assert.equal(withComment.comments_count, 1);
    assert.equal((await t.admin.client.get('/api/v1/tickets?status=pending')).status, 400);
  });

  it('GET /tickets/:id returns the comments with author names; 404 for another organization', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff', { first_name: 'Sarah', last_name: 'Johnson' });
    const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Call back' })).body.data;
    const comment = await staff.client.post(`/api/v1/tickets/${ticket.id}/comments`, { content: 'Called, no answer', is_internal: true });
    assert.equal(comment.status, 201);
    assert.equal(comment.body.data.author_id, staff.user.id);
    assert.equal(comment.body.data.author_name, 'Sarah Johnson');
    assert.equal(comment.body.data.is_internal, true);
    const res = await t.admin.client.get(`/api/v1/tickets/${ticket.id}`);
    assert.equal(res.body.data.comments.length, 1);
    assert.equal(res.body.data.comments[0].content, 'Called, no answer');
    assert.equal(res.body.data.comments_count, 1);
    const other = await createTestOrg();
    assert.equal((await other.admin.client.get(`/api/v1/tickets/${ticket.id}`)).status, 404);
    assert.equal((await other.admin.client.post(`/api/v1/tickets/${ticket.id}/comments`, { content: 'x' })).status, 404);
    assert.equal((await t.admin.client.post(`/api/v1/tickets/${ticket.id}/comments`, {})).status, 400);
    const events = await t.svc.deps.db.knex('events').where({ subject_id: ticket.id }).pluck('event');
    assert.ok(events.includes('ticket.comment_added'));
  });

  it('PATCH /tickets/:id changes status, priority and assignee with the right permissions', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Printer jam', category: 'technical' })).body.data;

    const res = await staff.client.patch(`/api/v1/tickets/${ticket.id}`, { status: 'in_progress', priority: 'high', assigned_to: staff.user.id });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.status, 'in_progress');
    assert.equal(res.body.data.priority, 'high');
    assert.equal(res.body.data.assigned_to, staff.user.id);

    const providerAssign = await provider.client.patch(`/api/v1/tickets/${ticket.id}`, { assigned_to: provider.user.id });
    assert.equal(providerAssign.status, 403);
    assert.equal(providerAssign.body.error.details.required_permission, 'ticket.assign');
    assert.equal((await provider.client.patch(`/api/v1/tickets/${ticket.id}`, { priority: 'low' })).status, 200);
    assert.equal((await t.admin.client.patch(`/api/v1/tickets/${ticket.id}`, {})).status, 400);
    const foreign = await createTestOrg();
    const bad = await t.admin.client.patch(`/api/v1/tickets/${ticket.id}`, { assigned_to: foreign.admin.user.id });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.details.field, 'assigned_to');
    assert.equal((await foreign.admin.client.patch(`/api/v1/tickets/${ticket.id}`, { priority: 'low' })).status, 404);

    assert.equal((await t.admin.client.patch(`/api/v1/tickets/${ticket.id}`, { status: 'closed' })).status, 200);
    assert.equal((await t.admin.client.patch(`/api/v1/tickets/${ticket.id}`, { status: 'open' })).status, 409, 'a closed ticket is final');
    const events = await t.svc.deps.db.knex('events').where({ subject_id: ticket.id }).pluck('event');
    assert.ok(events.filter((e: string) => e === 'ticket.updated').length >= 2);
  });

  it('POST /tickets/:id/resolve records the resolution once; a provider cannot resolve', async () => {
    const t = await createTestOrg();
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const ticket = (await t.admin.client.post('/api/v1/tickets', { title: 'Reschedule', category: 'appointment' })).body.data;
    const denied = await provider.client.post(`/api/v1/tickets/${ticket.id}/resolve`, { resolution: 'done' });
    assert.equal(denied.status, 403);
    assert.equal((await t.admin.client.post(`/api/v1/tickets/${ticket.id}/resolve`, {})).status, 400);
    const res = await t.admin.client.post(`/api/v1/tickets/${ticket.id}/resolve`, { resolution: 'Appointment moved to December 5th.' });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.status, 'resolved');
    assert.equal(res.body.data.resolution, 'Appointment moved to December 5th.');
    assert.equal(res.body.data.resolved_by, t.admin.user.id);
    assert.match(res.body.data.resolved_at, /Z$/);
    assert.equal((await t.admin.client.post(`/api/v1/tickets/${ticket.id}/resolve`, { resolution: 'again' })).status, 409);
    const events = await t.svc.deps.db.knex('events').where({ subject_id: ticket.id }).pluck('event');
    assert.ok(events.includes('ticket.resolved'));
  });
});
