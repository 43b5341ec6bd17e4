import assert from 'node:assert/strict';
import {
  WhatsAppCloudAdapter, WHATSAPP_MAX_TEMPLATE_PARAMETER, templateParameter,
} from '../../channels/whatsapp/adapter.js';
import { ProviderRefusedError, ProviderUnreachableError, type OutboundMessage } from '../../channels/types.js';
import { createLogger } from '../../lib/logger.js';
import { whatsappTemplateLookup, type WhatsAppTemplate } from '../../models/settings.js';
import { testConfig } from '../support/service.js';
import { buildPatient, createTestOrg, uniquePhone } from '../support/factories.js';
import { clientOn } from '../support/smsService.js';
import { setupWhatsAppOrg, withFakeWhatsApp, waitForStatus } from '../support/whatsappService.js';
import { whatsappEnv } from '../support/fakeWhatsApp.js';
import { CLINIC_CHANGED_CHANNEL } from '../../models/clinicChanges.js';

const outbound = (to: string, text: string, options: OutboundMessage['options'] = null): OutboundMessage => ({
  id: 'msg_test', organizationId: 'org_test', channel: 'whatsapp', to, text, options, conversationId: null, sender: 'staff', createdAt: new Date(),
});
const REMINDER: WhatsAppTemplate = { name: 'appointment_update', language: 'es' };

describe("WhatsApp channel (Cloud API): templates outside the 24-hour window", function () {
  this.timeout(30_000);
  const wa = withFakeWhatsApp();
  const adapterWith = (templateFor: (organizationId: string) => Promise<WhatsAppTemplate | null>) =>
    new WhatsAppCloudAdapter({ config: testConfig(whatsappEnv(wa.fake)), logger: createLogger('silent'), templateFor });

  it("a message outside the 24-hour window goes out as the clinic's template, with the text as its parameter", async () => {
    const { t, svc } = await setupWhatsAppOrg(wa.fake, undefined, { whatsapp_template: REMINDER });
    const p = await buildPatient(t);
    wa.fake.outsideWindow(p.phone!);
    const requestsBefore = wa.fake.requests;
    const res = await (await clientOn(svc, t)).post('/api/v1/communications/send', {
      patient_id: p.id, channel: 'whatsapp', message: 'Your appointment is tomorrow at 10:00.\n\nReply     1 to confirm,\t2 to cancel.',
    });
    assert.equal(res.status, 202);
    const row = await waitForStatus(svc, res.body.data.id, 'sent');
    const [sent] = wa.fake.to(p.phone!);
    assert.equal(sent.type, 'template');
    assert.deepEqual(sent.template, { name: 'appointment_update', language: 'es' });
    assert.equal(sent.text, 'Your appointment is tomorrow at 10:00. · Reply 1 to confirm, 2 to cancel.');
    assert.deepEqual((sent.raw.template as { components: unknown }).components, [{ type: 'body', parameters: [{ type: 'text', text: sent.text }] }]);
    assert.equal(wa.fake.requests - requestsBefore, 2, 'the text was refused (131047), then the template went at once');
    const stored = await svc.deps.db.knex('messages').where({ id: res.body.data.id }).first();
    assert.equal(stored.provider_message_id, sent.id);
    assert.equal(row.attempts, 1);
  });

  it('without a template it fails with a clear error and is not retried', async () => {
    const { t, svc } = await setupWhatsAppOrg(wa.fake);
    const p = await buildPatient(t);
    wa.fake.outsideWindow(p.phone!);
    const res = await (await clientOn(svc, t)).post('/api/v1/communications/send', { patient_id: p.id, channel: 'whatsapp', message: 'Your results are ready' });
    const failed = await waitForStatus(svc, res.body.data.id, 'failed');
    assert.equal(failed.last_error, "refused: 131047: outside WhatsApp's 24-hour window: set settings.whatsapp_template to send it as a template");
    assert.equal(failed.attempts, 1);
    assert.equal(wa.fake.to(p.phone!).length, 0);
  });

  it('a template set through PATCH /settings/organization is used by the next send, not after the cache expires', async () => {
    const { t, svc } = await setupWhatsAppOrg(wa.fake);
    const p = await buildPatient(t);
    wa.fake.outsideWindow(p.phone!);
    const client = await clientOn(svc, t);
    const first = await client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'whatsapp', message: 'Your results are ready' });
    await waitForStatus(svc, first.body.data.id, 'failed'); // the sender has now read (and cached) "no template"

    // The service's handlers run in the order they subscribed: when this one hears the notification, the sender's has.
    let hear = () => {};
    const heard = new Promise<void>((resolve) => { hear = resolve; });
    const unlisten = await svc.deps.db.listen(CLINIC_CHANGED_CHANNEL, (org) => { if (org === t.org.id) hear(); });
    const patched = await client.patch('/api/v1/settings/organization', { settings: { whatsapp_template: REMINDER } });
    assert.equal(patched.status, 200);
    await heard;
    await unlisten();

    const second = await client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'whatsapp', message: 'Your results are ready' });
    await waitForStatus(svc, second.body.data.id, 'sent');
    const [sent] = wa.fake.to(p.phone!);
    assert.equal(sent.type, 'template');
    assert.deepEqual(sent.template, { name: 'appointment_update', language: 'es' });
  });

  it('inside the window it is plain text, as before', async () => {
    const { t, svc } = await setupWhatsAppOrg(wa.fake, undefined, { whatsapp_template: REMINDER });
    const p = await buildPatient(t);
    const requestsBefore = wa.fake.requests;
    const res = await (await clientOn(svc, t)).post('/api/v1/communications/send', { patient_id: p.id, channel: 'whatsapp', message: 'Hola\nhasta mañana' });
    await waitForStatus(svc, res.body.data.id, 'sent');
    const [sent] = wa.fake.to(p.phone!);
    assert.equal(sent.type, 'text');
    assert.equal(sent.template, null);
    assert.equal(sent.text, 'Hola\nhasta mañana');
    assert.equal(wa.fake.requests - requestsBefore, 1);
  });

  it("asks for the template of the message's organization, and keeps options as a numbered list on one line", async () => {
    const asked: string[] = [];
    const adapter = adapterWith(async (orgId) => (asked.push(orgId), REMINDER));
    await adapter.start();
    const to = uniquePhone();
    wa.fake.outsideWindow(to);
    const result = await adapter.send(outbound(to, 'Which time suits you?', [{ value: '1', label: 'Monday 09:00' }, { value: '2', label: 'Tuesday  16:30' }]));
    const [sent] = wa.fake.to(to);
    assert.equal(result.providerMessageId, sent.id);
    assert.equal(sent.text, 'Which time suits you? · 1. Monday 09:00 · 2. Tuesday 16:30');
    assert.deepEqual(asked, ['org_test']);
  });

  it('cuts a long parameter to 1,024 characters, and collapses every kind of line break and whitespace run', () => {
    const long = templateParameter(`${'word '.repeat(300)}\r\n\u2028end`, null);
    assert.equal(long.length, WHATSAPP_MAX_TEMPLATE_PARAMETER);
    assert.ok(long.endsWith('…'));
    assert.equal(templateParameter('a\r\nb\n\n\nc\t\td      e', null), 'a · b · c d e');
    const emoji = templateParameter(`${'x'.repeat(1022)}😀😀`, null);
    assert.ok(emoji.length <= WHATSAPP_MAX_TEMPLATE_PARAMETER && !/[\ud800-\udbff]…$/.test(emoji), 'never splits a surrogate pair');
  });

  it('a template send that fails is classified like any other send error', async () => {
    const to = uniquePhone();
    wa.fake.outsideWindow(to);
    // The fake refuses a name that no approved template could have: a final refusal (100), not the window's.
    const refused = adapterWith(async () => ({ name: 'Not A Template', language: 'es' }));
    await assert.rejects(refused.send(outbound(to, 'x')), (err: unknown) => err instanceof ProviderRefusedError && err.code === '100' && !err.retryable);
    // The Graph API goes down between the refusal and the template: unreachable, so the dispatcher retries.
    const flaky = adapterWith(async () => (wa.fake.down('error500', 1), REMINDER));
    await assert.rejects(flaky.send(outbound(to, 'x')), (err: unknown) => err instanceof ProviderUnreachableError);
    assert.equal(wa.fake.to(to).length, 0);
  });

  it("reads the organization's template through a short cache, and ignores a stored value that is not one", async () => {
    const t = await createTestOrg({ settings: { whatsapp_template: REMINDER } });
    const broken = await createTestOrg({ settings: { whatsapp_template: 'appointment_update' } });
    const knex = t.svc.deps.db.knex;
    let now = 0;
    const lookup = whatsappTemplateLookup(knex, 1000, () => now);
    assert.deepEqual(await lookup(t.org.id), REMINDER);
    assert.equal(await lookup(broken.org.id), null);
    assert.equal(await lookup('org_missing'), null);
    await knex('organizations').where({ id: t.org.id }).update({ settings: knex.raw(`settings || '{"whatsapp_template": null}'::jsonb`) });
    now = 999;
    assert.deepEqual(await lookup(t.org.id), REMINDER, 'cached');
    now = 1000;
    assert.equal(await lookup(t.org.id), null, 'read again after its time to live');
    await knex('organizations').where({ id: t.org.id }).update({ settings: knex.raw(`settings || ?::jsonb`, [JSON.stringify({ whatsapp_template: REMINDER })]) });
    lookup.invalidate(t.org.id);
    assert.deepEqual(await lookup(t.org.id), REMINDER, 'read again once invalidated, within its time to live');
  });
});
