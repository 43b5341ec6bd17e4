import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningService } from '../../main.js';
import {
  WhatsAppCloudAdapter, buildWhatsAppPayload, e164ToWaId, truncateTitle, waIdToE164,
} from '../../channels/whatsapp/adapter.js';
import { ProviderRefusedError, ProviderUnreachableError, type OutboundMessage } from '../../channels/types.js';
import { createLogger } from '../../lib/logger.js';
import { testConfig, testService } from '../support/service.js';
import { buildPatient, createTestOrg, uniquePhone } from '../support/factories.js';
import { closedPortUrl } from '../support/fakeTwilio.js';
import { clientOn } from '../support/smsService.js';
import { inboundRows, setupWhatsAppOrg, withFakeWhatsApp, waitForStatus, waitUntil } from '../support/whatsappService.js';
import {
  inboundMessage, newWamid, postNotification, uniquePhoneNumberId, whatsappEnv,
} from '../support/fakeWhatsApp.js';

const outbound = (to: string, text = 'Hola', options: OutboundMessage['options'] = null): OutboundMessage => ({
  id: 'msg_test', organizationId: 'org_test', channel: 'whatsapp', to, text, options, conversationId: null, sender: 'staff', createdAt: new Date(),
});
const opts = (labels: string[]) => labels.map((label, i) => ({ value: String(i + 1), label }));

describe('WhatsApp channel (Cloud API): sending', function () {
  this.timeout(30_000);
  const wa = withFakeWhatsApp();

  const knexOf = (svc: RunningService) => svc.deps.db.knex;
  const setup = () => setupWhatsAppOrg(wa.fake);

    it('fails a message the Graph API refuses (131026) without retrying, and retries one it could not reach (500)', async () => {
      const { t, svc } = await setup();
      const bad = await buildPatient(t);
      const flaky = await buildPatient(t);
      wa.fake.refuseRecipient(bad.phone!, 131026);
      const client = await clientOn(svc, t);
      const r1 = await client.post('/api/v1/communications/send', { patient_id: bad.id, channel: 'whatsapp', message: 'x' });
      const failed = await waitForStatus(svc, r1.body.data.id, 'failed');
      assert.match(failed.last_error, /131026/);
      assert.equal(failed.attempts, 1);
      assert.equal(wa.fake.to(bad.phone!).length, 0);

      wa.fake.down('error500', 1);
      const r2 = await client.post('/api/v1/communications/send', { patient_id: flaky.id, channel: 'whatsapp', message: 'y' });
      await waitUntil(async () => (await knexOf(svc)('messages').where({ id: r2.body.data.id }).first()).last_error !== null);
      const retry = await knexOf(svc)('messages').where({ id: r2.body.data.id }).first();
      assert.equal(retry.status, 'queued');
      assert.match(retry.last_error, /^unreachable/);
      assert.ok(new Date(retry.next_attempt_at).getTime() > Date.now(), 'backs off before the next attempt');
      // When the retry comes due, it goes out.
      await knexOf(svc)('messages').where({ id: r2.body.data.id }).update({ next_attempt_at: new Date(Date.now() - 1000) });
      svc.dispatcher.kick();
      const sent = await waitForStatus(svc, r2.body.data.id, 'sent');
      assert.equal(sent.attempts, 2);
      assert.equal(wa.fake.to(flaky.phone!).length, 1);
    });

    it('maps Graph errors: 131026/131047/100 final refusals, 4/80007 retryable, 190 retryable and the channel down, 500 and no connection unreachable', async () => {
      const adapter = new WhatsAppCloudAdapter({ config: testConfig(whatsappEnv(wa.fake)), logger: createLogger('silent') });
      await adapter.start();
      assert.equal(adapter.health().status, 'up');
      for (const code of [131026, 131047, 100]) {
        wa.fake.refuse(1, code);
        await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderRefusedError && err.code === String(code) && !err.retryable);
      }
      for (const code of [4, 80007]) {
        wa.fake.refuse(1, code, 429);
        await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderRefusedError && err.code === String(code) && err.retryable);
      }
      assert.equal(adapter.health().status, 'up', 'a refusal says nothing about the channel');
      wa.fake.refuse(1, 190, 401);
      await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderRefusedError && err.code === '190' && err.retryable);
      assert.equal(adapter.health().status, 'down');
      assert.match(adapter.health().detail!, /access token/);
      wa.fake.down('error500', 1);
      await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderUnreachableError);
      wa.fake.down('drop', 1);
      await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderUnreachableError);
      const nowhere = new WhatsAppCloudAdapter({ config: testConfig(whatsappEnv(wa.fake, { WHATSAPP_API_BASE_URL: await closedPortUrl() })), logger: createLogger('silent') });
      await assert.rejects(nowhere.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderUnreachableError && /ECONNREFUSED/.test(err.message));
      const ok = await adapter.send(outbound('+34600000001', 'después'));
      assert.match(ok.providerMessageId!, /^wamid\./);
      assert.equal(adapter.health().status, 'up');
      assert.equal(wa.fake.messages.at(-1)!.to, '34600000001');
    });

    it('renders options: up to 3 short ones as reply buttons, up to 10 as a list with cut titles, more as numbered text', async () => {
      const adapter = new WhatsAppCloudAdapter({ config: testConfig(whatsappEnv(wa.fake)), logger: createLogger('silent') });
      await adapter.start();
      const to = uniquePhone();
      await adapter.send(outbound(to, 'Choose', opts(['Yes', 'No'])));
      await adapter.send(outbound(to, 'Choose', opts(['A', 'B', 'C', 'D'])));
      const long = ['Wednesday 6 March, 08:00 — Dr. Elena García', 'Wednesday 6 March, 08:30 — Dr. Elena García', 'Another day'];
      await adapter.send(outbound(to, 'Choose', opts(long)));
      await adapter.send(outbound(to, 'Choose', opts(Array.from({ length: 10 }, (_, i) => `Option ${i + 1}`))));
      await adapter.send(outbound(to, 'Choose', opts(Array.from({ length: 11 }, (_, i) => `Option ${i + 1}`))));
      const [buttons, four, cut, ten, eleven] = wa.fake.to(to);
      assert.equal(buttons.interactive!.type, 'button');
      assert.deepEqual(buttons.interactive!.action.buttons, [{ type: 'reply', reply: { id: '1', title: 'Yes' } }, { type: 'reply', reply: { id: '2', title: 'No' } }]);
      assert.equal(buttons.interactive!.body.text, 'Choose');
      assert.equal(four.interactive!.type, 'list');
      assert.deepEqual(four.interactive!.action.sections![0].rows, [{ id: '1', title: 'A' }, { id: '2', title: 'B' }, { id: '3', title: 'C' }, { id: '4', title: 'D' }]);
      assert.equal(cut.interactive!.type, 'list', 'labels too long for a button go to a list, whose rows also carry a description');
      const rows = cut.interactive!.action.sections![0].rows;
      assert.deepEqual(rows.map((r) => r.id), ['1', '2', '3']);
      assert.equal(rows[0].title, 'Wednesday 6 March, 08:0…');
      assert.equal(rows[0].description, long[0]);
      assert.deepEqual(rows[2], { id: '3', title: 'Another day' });
      assert.equal(ten.interactive!.type, 'list');
      assert.equal(ten.interactive!.action.sections![0].rows.length, 10);
      assert.equal(eleven.type, 'text');
      assert.equal(eleven.interactive, null);
      assert.match(eleven.text, /^Choose\n\n1\. Option 1\n2\. Option 2\n[\s\S]*\n11\. Option 11$/);
    });

    it('builds payloads within WhatsApp limits, and converts numbers both ways', () => {
      assert.equal(truncateTitle('Dermatology and Venereology', 20), 'Dermatology and Ven…');
      assert.equal([...truncateTitle('😀'.repeat(30), 24)].length, 24);
      const dupes = buildWhatsAppPayload('34600000001', 'Pick', opts(['Wednesday 6 March, 08:00', 'Wednesday 6 March, 08:30'])) as { interactive: { type: string } };
      assert.equal(dupes.interactive.type, 'list', 'buttons whose cut titles would collide are a list');
      const longBody = buildWhatsAppPayload('34600000001', 'x'.repeat(1100), opts(['Yes', 'No'])) as { type: string; text: { body: string } };
      assert.equal(longBody.type, 'text', 'a body too long for an interactive message is numbered text');
      assert.match(longBody.text.body, /\n1\. Yes\n2\. No$/);
      assert.equal(waIdToE164('34612345678'), '+34612345678');
      assert.equal(waIdToE164('16315551181'), '+16315551181');
      assert.equal(waIdToE164('5215512345678'), '+525512345678', "Mexico's wa_id keeps a 1 that E.164 dropped");
      assert.equal(waIdToE164('5491123456789'), '+5491123456789', "Argentina's 9 is E.164's too");
      assert.equal(waIdToE164(''), null);
      assert.equal(e164ToWaId('+34 612 345 678'), '34612345678');
      assert.equal(e164ToWaId('not a number'), null);
    });

    it('is off without credentials and says which settings are missing (GET /channels, /system/status); its webhook stores nothing', async () => {
      const shared = await testService();
      const t = await createTestOrg();
      const res = await (await clientOn(shared, t)).get('/api/v1/channels');
      const wa = res.body.data.find((c: { name: string }) => c.name === 'whatsapp');
      assert.deepEqual({ enabled: wa.enabled, status: wa.status }, { enabled: false, status: 'off' });
      for (const setting of ['WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_APP_SECRET']) assert.match(wa.detail, new RegExp(setting));
      const status = await (await clientOn(shared, t)).get('/api/v1/system/status');
      assert.equal(status.status, 200);
      assert.match(JSON.stringify(status.body), /whatsapp/);
      const wamid = newWamid();
      const hook = await postNotification(shared.url, inboundMessage(uniquePhoneNumberId(), uniquePhone(), { text: 'Hola' }, wamid));
      assert.equal(hook.status, 503);
      assert.equal((await inboundRows(shared, wamid)).length, 0);
      const partial = new WhatsAppCloudAdapter({ config: testConfig({ WHATSAPP_ACCESS_TOKEN: 'x', WHATSAPP_PHONE_NUMBER_ID: '1' }), logger: createLogger('silent') });
      assert.equal(partial.enabled, false);
      assert.match(partial.health().detail!, /^not configured: set WHATSAPP_APP_SECRET$/);
      await assert.rejects(partial.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderRefusedError && err.code === 'channel_disabled');
      // And a WhatsApp message queued there stays for an instance that can send it.
      const p = await buildPatient(t);
      const queued = await (await clientOn(shared, t)).post('/api/v1/communications/send', { patient_id: p.id, channel: 'whatsapp', message: 'x' });
      assert.equal(queued.status, 202);
      await sleep(300);
      assert.equal((await knexOf(shared)('messages').where({ id: queued.body.data.id }).first()).status, 'queued');
    });
});
