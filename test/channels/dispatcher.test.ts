import assert from 'node:assert/strict';
import { createTestOrg, buildPatient, type TestOrg } from '../support/factories.js';
import { FakeChannel } from '../support/fakeChannel.js';
import { fixedClock } from '../support/service.js';
import { createLogger } from '../../lib/logger.js';
import { ChannelRegistry } from '../../channels/registry.js';
import { OutboundDispatcher, splitText, renderForChannel, type DispatcherOptions } from '../../channels/dispatcher.js';
import { queueOutboundMessage, Message, type QueueOutboundInput } from '../../models/messages.js';
import { applyStatusUpdate, claimOutbound, markRetry, markSent, visibleStatus } from '../../models/outbox.js';
import type { Clock } from '../../lib/clock.js';

const silent = createLogger('silent');

function dispatcher(t: TestOrg, channels: FakeChannel[], opts: Partial<DispatcherOptions> = {}): OutboundDispatcher {
  return new OutboundDispatcher(t.svc.deps.db, new ChannelRegistry(channels), silent, {
    pollMs: 50, batchSize: 50, leaseSeconds: 30, maxAttempts: 3, backoff: [1000, 5000], organizationIds: [t.org.id], ...opts,
  });
}

async function queue(t: TestOrg, input: Partial<QueueOutboundInput> = {}): Promise<Message> {
  return queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, {
    channel: 'telegram', to: '555001', text: 'Your appointment is tomorrow at 10:00.', sender: 'assistant', ...input,
  });
}

const reload = (t: TestOrg, id: string) => Message.query(t.svc.deps.db.knex).findById(id).then((m) => m!);
const events = (t: TestOrg, id: string) =>
  t.svc.deps.db.knex('events').where({ organization_id: t.org.id, subject_id: id }).orderBy('created_at').pluck('event') as Promise<string[]>;

describe('channels/dispatcher', () => {
  it('sends queued messages through the adapter and records the provider id and sent', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel();
    const m = await queue(t, { options: [{ value: 'yes', label: 'Confirm' }] });
    assert.equal(await dispatcher(t, [fake]).runOnce(), 1);
    assert.equal(fake.sent.length, 1);
    assert.equal(fake.sent[0].id, m.id);
    assert.equal(fake.sent[0].to, '555001');
    assert.deepEqual(fake.sent[0].options, [{ value: 'yes', label: 'Confirm' }], 'buttons pass through on a channel that has them');
    const after = await reload(t, m.id);
    assert.equal(after.status, 'sent');
    assert.equal(after.provider_message_id, fake.sent[0].providerMessageId);
    assert.equal(after.attempts, 1);
    assert.ok(after.sent_at);
    assert.deepEqual(await events(t, m.id), ['communication.sent']);
    assert.equal(await dispatcher(t, [fake]).runOnce(), 0, 'a sent message is not sent again');
  });

  it('retries an unreachable provider with backoff, then fails visibly after max attempts', async () => {
    const t = await createTestOrg();
    const clock = fixedClock(new Date());
    const fake = new FakeChannel().failAlways('unreachable');
    const d = dispatcher(t, [fake], { clock: clock as Clock, maxAttempts: 3, backoff: [5_000, 30_000] });
    const m = await queue(t);

    await d.runOnce();
    let row = await reload(t, m.id);
    assert.equal(row.status, 'queued');
    assert.equal(row.attempts, 1);
    assert.match(row.last_error!, /^unreachable/);
    assert.equal(row.next_attempt_at!.getTime(), clock.now().getTime() + 5_000);
    assert.equal(await d.runOnce(), 0, 'not due before its backoff');

    clock.advance(5_000);
    assert.equal(await d.runOnce(), 1);
    row = await reload(t, m.id);
    assert.equal(row.attempts, 2);
    assert.equal(row.next_attempt_at!.getTime(), clock.now().getTime() + 30_000, 'the second delay is longer');

    clock.advance(30_000);
    await d.runOnce();
    row = await reload(t, m.id);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 3);
    assert.match(row.last_error!, /gave up after 3 attempts/);
    assert.ok(row.failed_at);
    assert.equal(fake.calls, 3);
    assert.deepEqual(await events(t, m.id), ['communication.failed']);
  });

  it('a non-retryable refusal fails at once; a retryable one is retried', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel().failNext('refused').failNext('refused_retryable');
    const refused = await queue(t, { to: 'a' });
    const throttled = await queue(t, { to: 'b' });
    await dispatcher(t, [fake], { concurrency: 1 }).runOnce();
    const r1 = await reload(t, refused.id);
    assert.equal(r1.status, 'failed');
    assert.equal(r1.attempts, 1);
    assert.match(r1.last_error!, /^refused: 21211/);
    const r2 = await reload(t, throttled.id);
    assert.equal(r2.status, 'queued');
    assert.match(r2.last_error!, /^refused: 20429/);
  });

  it('fails messages for a disabled channel with a clear error', async () => {
    const t = await createTestOrg();
    const m = await queue(t);
    await dispatcher(t, [new FakeChannel({ enabled: false })]).runOnce();
    const row = await reload(t, m.id);
    assert.equal(row.status, 'failed');
    assert.match(row.last_error!, /^channel_disabled/);
  });

  it('claims and sends a message queued while earlier rounds wait to be recorded (sends do not wait for records)', async function () {
    this.timeout(15_000);
    const t = await createTestOrg();
    const fake = new FakeChannel();
    // Records wait 3 s for company; a round's place among the two in flight must free up when it has sent.
    const d = dispatcher(t, [fake], { recordGatherMs: 3000, pollMs: 10_000 });
    d.start();
    try {
      const queued: Message[] = [];
      for (const [i, to] of ['r-1', 'r-2', 'r-3', 'r-4'].entries()) {
        queued.push(await queue(t, { to }));
        d.kick();
        await fake.waitForSends(i + 1, 1500);
      }
      assert.deepEqual(fake.sent.map((m) => m.to), ['r-1', 'r-2', 'r-3', 'r-4']);
      for (const m of queued) assert.equal((await reload(t, m.id)).status, 'queued', 'sent, not recorded yet');
    } finally {
      await d.stop();
    }
    const after = await Promise.all(['r-1', 'r-2', 'r-3', 'r-4'].map(async (to) => (await Message.query(t.svc.deps.db.knex).where({ organization_id: t.org.id, to_address: to }).first())!.status));
    assert.deepEqual(after, ['sent', 'sent', 'sent', 'sent'], 'stop() waits for the records');
  });

  it('two dispatchers racing over 300 queued messages send each exactly once', async function () {
    this.timeout(60_000);
    const t = await createTestOrg();
    await t.svc.deps.db.knex.transaction(async (trx) => {
      for (let i = 0; i < 300; i++) {
        await queueOutboundMessage(trx, { organizationId: t.org.id }, { channel: 'telegram', to: `chat-${i % 37}`, text: `message ${i}`, sender: 'system' });
      }
    });
    const fake = new FakeChannel({ latencyMs: 1 });
    const a = dispatcher(t, [fake], { batchSize: 20, pollMs: 20 });
    const b = dispatcher(t, [fake], { batchSize: 20, pollMs: 20 });
    a.start();
    b.start();
    await fake.waitForSends(300, 50_000);
    await Promise.all([a.stop(), b.stop()]);
    const ids = fake.sent.map((s) => s.id);
    assert.equal(ids.length, 300);
    assert.equal(new Set(ids).size, 300, 'no message was sent twice');
    const statuses = await t.svc.deps.db.knex('messages').where({ organization_id: t.org.id }).groupBy('status').select('status').count('* as n');
    assert.deepEqual(statuses.map((s) => [s.status, Number(s.n)]), [['sent', 300]]);
    // One recipient's messages arrive in the order they were queued.
    const chat0 = fake.sent.filter((s) => s.to === 'chat-0').map((s) => Number(s.text.split(' ')[1]));
    assert.deepEqual(chat0, [...chat0].sort((x, y) => x - y));
  });

  it('retakes a claim whose lease expired (a crashed sender) but not a live one', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const crashed = await queue(t, { to: 'crashed' });
    const live = await queue(t, { to: 'live' });
    // A claim is a lease on the queued row (models/outbox.ts).
    await knex('messages').where({ id: crashed.id }).update({ attempts: 1, claimed_until: new Date(Date.now() - 1000) });
    await knex('messages').where({ id: live.id }).update({ attempts: 1, claimed_until: new Date(Date.now() + 60_000) });
    const fake = new FakeChannel();
    assert.equal(await dispatcher(t, [fake]).runOnce(), 1);
    assert.deepEqual(fake.sent.map((s) => s.id), [crashed.id]);
    const row = await reload(t, crashed.id);
    assert.equal(row.status, 'sent');
    assert.equal(row.attempts, 2);
    assert.equal(visibleStatus(await reload(t, live.id)), 'sending');
  });

  it('a claim leaves the row queued under a lease, which readers show as sending, and a record after its release changes nothing', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const m = await queue(t);
    const now = new Date();
    const { messages: [claimed] } = await claimOutbound(knex, { limit: 10, leaseSeconds: 30, now, organizationIds: [t.org.id] });
    assert.equal(claimed.id, m.id);
    assert.equal(claimed.attempts, 1);
    const row = await reload(t, m.id);
    assert.equal(row.status, 'queued');
    assert.equal(row.claimed_until!.getTime(), now.getTime() + 30_000);
    assert.equal(visibleStatus(row, now), 'sending');
    assert.equal(visibleStatus(row, new Date(now.getTime() + 31_000)), 'queued', 'an expired lease is not being sent');
    const claimAgain = await claimOutbound(knex, { limit: 10, leaseSeconds: 30, now, organizationIds: [t.org.id] });
    assert.deepEqual(claimAgain.messages, [], 'a live claim is not claimed twice');
    const listed = await t.admin.client.get('/api/v1/communications?status=sending');
    assert.deepEqual(listed.body.data.map((c: { id: string; status: string }) => [c.id, c.status]), [[m.id, 'sending']]);
    assert.equal((await t.admin.client.get('/api/v1/communications?status=queued')).body.data.length, 0);

    const ref = { id: m.id, attempts: claimed.attempts };
    assert.equal(await markRetry(knex, ref, 'timeout', new Date(now.getTime() + 5_000)), true);
    assert.equal(await markSent(knex, ref, 'late-provider-id'), false, 'the released claim records nothing');
    const released = await reload(t, m.id);
    assert.equal(released.status, 'queued');
    assert.equal(released.claimed_until, null);
    assert.equal(released.provider_message_id, null);
    assert.equal(visibleStatus(released, now), 'queued');
  });

  it('splits long text on sentence boundaries, in order, storing the first provider id', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ capabilities: { maxTextLength: 60 } });
    const text = 'Your appointment with Dr. Ruiz is confirmed. It is on Monday at 10:00 in Room 4. Please arrive ten minutes early and bring your card.';
    const m = await queue(t, { text });
    await dispatcher(t, [fake]).runOnce();
    assert.ok(fake.sent.length >= 3);
    for (const part of fake.sent) assert.ok(part.text.length <= 60, `part too long: ${part.text.length}`);
    assert.equal(fake.sent.map((s) => s.text).join(' '), text);
    assert.equal(fake.sent[0].text, 'Your appointment with Dr. Ruiz is confirmed.');
    assert.equal((await reload(t, m.id)).provider_message_id, fake.sent[0].providerMessageId);
  });

  it('on a retry after a partial send, sends only the parts that did not go', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ capabilities: { maxTextLength: 30 } }).failWhen((_m, call) => (call === 2 ? 'unreachable' : null));
    const clock = fixedClock(new Date());
    const m = await queue(t, { text: 'First sentence is here. Second sentence is here.' });
    const d = dispatcher(t, [fake], { clock: clock as Clock });
    await d.runOnce();
    assert.equal((await reload(t, m.id)).status, 'queued');
    clock.advance(1_000);
    await d.runOnce();
    assert.deepEqual(fake.sent.map((s) => s.text), ['First sentence is here.', 'Second sentence is here.']);
    const row = await reload(t, m.id);
    assert.equal(row.status, 'sent');
    assert.equal(row.provider_message_id, fake.sent[0].providerMessageId);
  });

  it('hands the channel what a message asks for (the phone, with its button label) and its closing, on the last part only', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ capabilities: { maxTextLength: 30 } });
    await queue(t, { to: 'ask-1', text: 'Thanks. What mobile number can the clinic reach you on?', metadata: { ask: { kind: 'phone', label: 'Share my phone number' } } });
    await queue(t, { to: 'ask-1', text: 'Done! Your appointment is booked.', metadata: { ask_closed: 'phone' } });
    await queue(t, { to: 'ask-1', text: 'Plain.', metadata: { ask: { kind: 'phone', label: '' }, ask_closed: 'soon' } });
    await dispatcher(t, [fake]).runOnce();
    assert.deepEqual(fake.sent.map((s) => [s.text, s.asksPhone ?? null, s.closesPhoneAsk ?? false]), [
      ['Thanks. What mobile number can', null, false],
      ['the clinic reach you on?', { label: 'Share my phone number' }, false],
      ['Done! Your appointment is', null, false],
      ['booked.', null, true],
      ['Plain.', null, false],
    ], 'a malformed ask is no ask');
  });

  it('appends options as a numbered list on a channel without buttons', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ name: 'sms', capabilities: { buttons: false, maxTextLength: 1600 } });
    await queue(t, { channel: 'sms', text: 'What would you like to do?', options: [{ value: 'book', label: 'Book' }, { value: 'cancel', label: 'Cancel' }] });
    await dispatcher(t, [fake]).runOnce();
    assert.equal(fake.sent[0].text, 'What would you like to do?\n\n1. Book\n2. Cancel');
    assert.equal(fake.sent[0].options, null);
  });

  it('skips bot and bulk messages to an opted-out patient, but sends staff and transactional ones', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    await t.svc.deps.db.knex('patients').where({ id: patient.id }).update({ opted_out_at: new Date() });
    const bot = await queue(t, { patientId: patient.id, sender: 'assistant' });
    const bulk = await queue(t, { patientId: patient.id, sender: 'system', batchId: 'batch_x' });
    const staff = await queue(t, { patientId: patient.id, sender: 'staff' });
    const stopConfirmation = await queue(t, { patientId: patient.id, sender: 'assistant', metadata: { transactional: true } });
    const fake = new FakeChannel();
    await dispatcher(t, [fake]).runOnce();
    for (const m of [bot, bulk]) {
      const row = await reload(t, m.id);
      assert.equal(row.status, 'skipped');
      assert.equal(row.last_error, 'opted_out');
    }
    assert.deepEqual(fake.sent.map((s) => s.id).sort(), [staff.id, stopConfirmation.id].sort());
  });

  it('a delivery receipt moves sent -> delivered -> read and never backwards', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel();
    const m = await queue(t);
    await dispatcher(t, [fake]).runOnce();
    const pid = fake.sent[0].providerMessageId;
    const db = t.svc.deps.db.knex;
    const apply = (status: 'sent' | 'delivered' | 'read' | 'failed') => applyStatusUpdate(db, { channel: 'telegram', providerMessageId: pid, status, at: new Date() });
    assert.equal((await apply('delivered'))!.status, 'delivered');
    assert.equal((await apply('sent'))!.changed, false);
    assert.equal((await reload(t, m.id)).status, 'delivered');
    assert.equal((await apply('read'))!.status, 'read');
    assert.equal((await apply('failed'))!.changed, false);
    const row = await reload(t, m.id);
    assert.equal(row.status, 'read');
    assert.ok(row.delivered_at && row.read_at);
    assert.deepEqual(await events(t, m.id), ['communication.sent', 'communication.delivered']);
    assert.equal(await applyStatusUpdate(db, { channel: 'telegram', providerMessageId: 'unknown', status: 'delivered', at: new Date() }), null);
  });

  it('an undelivered receipt fails a sent message with the provider code', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel();
    const m = await queue(t);
    await dispatcher(t, [fake]).runOnce();
    await applyStatusUpdate(t.svc.deps.db.knex, { channel: 'telegram', providerMessageId: fake.sent[0].providerMessageId, status: 'undelivered', errorCode: '30003', at: new Date() });
    const row = await reload(t, m.id);
    assert.equal(row.status, 'failed');
    assert.equal(row.last_error, 'undelivered: 30003');
    assert.deepEqual(await events(t, m.id), ['communication.sent', 'communication.failed']);
  });

  it('the running loop sends soon after kick() and stop() waits for the send in flight', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ latencyMs: 50, deliveredAtOnce: true });
    const d = dispatcher(t, [fake], { pollMs: 60_000 });
    d.start();
    await new Promise((r) => setTimeout(r, 50));
    const m = await queue(t);
    d.kick();
    await fake.waitForSends(1, 5_000);
    await d.stop();
    const row = await reload(t, m.id);
    assert.equal(row.status, 'delivered', 'recorded before stop() returned');
  });

  it('sends a message held back behind an earlier one to the same recipient as soon as that one is recorded, not at the next poll', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ latencyMs: 3 });
    const d = dispatcher(t, [fake], { pollMs: 60_000 });
    d.start();
    try {
      // Replies to a few visitors in quick succession, each kicking the loop, as chat turns do.
      for (let i = 0; i < 120; i++) {
        await queue(t, { to: `visitor-${i % 6}`, text: `reply ${i}` });
        d.kick();
        if (i % 4 === 0) await new Promise((r) => setTimeout(r, 2));
      }
      await fake.waitForSends(120, 10_000);
      for (let v = 0; v < 6; v++) {
        const order = fake.sent.filter((s) => s.to === `visitor-${v}`).map((s) => Number(s.text.split(' ')[1]));
        assert.deepEqual(order, [...order].sort((a, b) => a - b), `visitor-${v} got its replies in order`);
      }
    } finally {
      await d.stop();
    }
  });

  it('paces sends to the channel rate', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ ratePerSecond: 10 });
    for (let i = 0; i < 15; i++) await queue(t, { to: `r${i}` });
    const started = Date.now();
    await dispatcher(t, [fake]).runOnce();
    assert.equal(fake.sent.length, 15);
    // A burst of 10, then 5 more at 10/s: at least ~0.5 s.
    assert.ok(Date.now() - started >= 400, `15 sends at 10/s took only ${Date.now() - started} ms`);
  });
});

describe('channels/dispatcher text rendering', () => {
  it('splitText keeps short text whole and falls back to word then hard boundaries', () => {
    assert.deepEqual(splitText('short', 10), ['short']);
    assert.deepEqual(splitText('alpha beta gamma delta', 11), ['alpha beta', 'gamma delta']);
    assert.deepEqual(splitText('x'.repeat(25), 10), ['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
    const emoji = '😀'.repeat(6);
    for (const part of splitText(emoji, 5)) assert.ok(!/[\ud800-\udbff]$/.test(part), 'no split surrogate pair');
  });

  it('renderForChannel puts buttons on the last part only', () => {
    const parts = renderForChannel('One sentence here. Another one here.', [{ value: 'a', label: 'A' }], { buttons: true, media: false, maxTextLength: 20 });
    assert.equal(parts.length, 2);
    assert.equal(parts[0].options, null);
    assert.deepEqual(parts[1].options, [{ value: 'a', label: 'A' }]);
  });
});

