import assert from 'node:assert/strict';
import { createTestOrg, createTestUser } from '../support/factories.js';
import { testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { nextSendTime } from '../../models/settings.js';
import { organizationForChannelAccount } from '../../models/organizations.js';
import { uniqueTwilioNumber } from '../support/smsService.js';
import { newBotToken } from '../support/fakeTelegram.js';

const fields = (res: { body: { error: { details: { fields: { field: string }[] } } } }) =>
  res.body.error.details.fields.map((f) => f.field).sort();

describe('/api/v1/settings', () => {
  it('GET /settings/organization returns the clinic with every default filled in', async () => {
    const { admin, org } = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const res = await admin.client.get('/api/v1/settings/organization');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.id, org.id);
    assert.equal(res.body.data.time_zone, 'Europe/Madrid');
    assert.deepEqual(res.body.data.settings, {
      cancellation_window_hours: 24, reschedule_window_hours: 2, reminder_offsets_minutes: [1440, 120],
      quiet_hours: { start: '21:00', end: '08:00' }, default_language: 'en', emergency_number: '112', voice_transfer_number: null,
      sms_rate_per_second: null, whatsapp_template: null, sms_number: null, voice_number: null, whatsapp_phone_number_id: null, telegram_bot_id: null,
      address: null, contact_phone: null, opening_hours: null,
    });
  });

  it('PATCH /settings/organization updates name, time zone (timezone alias) and merges settings', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.patch('/api/v1/settings/organization', {
      name: 'Clínica Sol', timezone: 'America/New_York',
      settings: { cancellation_window_hours: 48, reminder_offsets_minutes: [60, 2880], quiet_hours: null, default_language: 'es' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.name, 'Clínica Sol');
    assert.equal(res.body.data.time_zone, 'America/New_York');
    assert.equal(res.body.data.settings.cancellation_window_hours, 48);
    assert.deepEqual(res.body.data.settings.reminder_offsets_minutes, [2880, 60]);
    assert.equal(res.body.data.settings.quiet_hours, null);
    assert.equal(res.body.data.settings.reschedule_window_hours, 2, 'untouched settings keep their value');
    const again = await admin.client.patch('/api/v1/settings/organization', { settings: { emergency_number: '911' } });
    assert.equal(again.body.data.settings.cancellation_window_hours, 48);
    assert.equal(again.body.data.settings.emergency_number, '911');
    assert.equal(again.body.data.settings.quiet_hours, null);
  });

  it("PATCH /settings/organization sets the clinic's channel accounts, each one organization's only (409 naming the setting)", async () => {
    const a = await createTestOrg();
    const b = await createTestOrg();
    const number = uniqueTwilioNumber();
    // A bot id of its own: a literal one would be taken by the previous run on a database that is not reset.
    const set = await a.admin.client.patch('/api/v1/settings/organization', { settings: { sms_number: number, telegram_bot_id: newBotToken().split(':')[0] } });
    assert.equal(set.status, 200);
    assert.equal(set.body.data.settings.sms_number, number);
    assert.equal((await organizationForChannelAccount(a.svc.deps.db.knex, 'sms_number', number))?.id, a.org.id, 'messages to the number reach it');
    const taken = await b.admin.client.patch('/api/v1/settings/organization', { settings: { sms_number: number } });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.details.field, 'settings.sms_number');
    assert.equal((await b.admin.client.get('/api/v1/settings/organization')).body.data.settings.sms_number, null, 'nothing changed');
    assert.equal((await a.admin.client.patch('/api/v1/settings/organization', { settings: { sms_number: number, voice_number: number } })).status, 200, 'its own again');
    // Released by its owner, it is free for another clinic.
    await a.admin.client.patch('/api/v1/settings/organization', { settings: { sms_number: null } });
    assert.equal((await b.admin.client.patch('/api/v1/settings/organization', { settings: { sms_number: number } })).status, 200);
    const bad = await b.admin.client.patch('/api/v1/settings/organization', { settings: { voice_number: '600 123 456', whatsapp_phone_number_id: 'abc', telegram_bot_id: '12:AA' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(fields(bad), ['settings.telegram_bot_id', 'settings.voice_number', 'settings.whatsapp_phone_number_id']);
  });

  it('PATCH /settings/organization returns 400 naming each bad field', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.patch('/api/v1/settings/organization', {
      time_zone: 'Mars/Olympus',
      settings: { reminder_offsets_minutes: [60, 60, -5], quiet_hours: { start: '25:00', end: '8:00' }, default_language: 'fr' },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(fields(res), [
      'settings.default_language', 'settings.quiet_hours.end', 'settings.quiet_hours.start',
      'settings.reminder_offsets_minutes', 'settings.reminder_offsets_minutes.2', 'time_zone',
    ]);
    const tooMany = await admin.client.patch('/api/v1/settings/organization', { settings: { reminder_offsets_minutes: [1, 2, 3, 4, 5, 6] } });
    assert.equal(tooMany.status, 400);
    assert.deepEqual(fields(tooMany), ['settings.reminder_offsets_minutes']);
    const transfer = await admin.client.patch('/api/v1/settings/organization', { settings: { voice_transfer_number: '93 123 45 67' } });
    assert.equal(transfer.status, 400);
    assert.deepEqual(fields(transfer), ['settings.voice_transfer_number']);
    const unknown = await admin.client.patch('/api/v1/settings/organization', { settings: { ai: { enabled: true } } });
    assert.equal(unknown.status, 400, 'AI settings go through /settings/ai');
    const unchanged = await admin.client.get('/api/v1/settings/organization');
    assert.equal(unchanged.body.data.time_zone, 'UTC');
  });

  it('PATCH /settings/organization rejects a malformed whatsapp_template, naming the field; stores a good one and null', async () => {
    const { admin } = await createTestOrg();
    const patch = (whatsapp_template: unknown) => admin.client.patch('/api/v1/settings/organization', { settings: { whatsapp_template } });
    const bad = await patch({ name: 'Appointment Reminder', language: 'spanish' });
    assert.equal(bad.status, 400);
    assert.deepEqual(fields(bad), ['settings.whatsapp_template.language', 'settings.whatsapp_template.name']);
    assert.deepEqual(fields(await patch({ name: '', language: 'es' })), ['settings.whatsapp_template.name']);
    assert.deepEqual(fields(await patch({ name: 'reminder' })), ['settings.whatsapp_template.language']);
    assert.deepEqual(fields(await patch({ name: 'reminder', language: 'en_us' })), ['settings.whatsapp_template.language']);
    assert.deepEqual(fields(await patch('reminder')), ['settings.whatsapp_template']);
    assert.deepEqual(fields(await patch({ name: 'reminder', language: 'es', components: [] })), ['settings.whatsapp_template']);
    assert.equal((await admin.client.get('/api/v1/settings/organization')).body.data.settings.whatsapp_template, null, 'nothing stored');
    const good = await patch({ name: 'appointment_update_2', language: 'en_US' });
    assert.equal(good.status, 200);
    assert.deepEqual(good.body.data.settings.whatsapp_template, { name: 'appointment_update_2', language: 'en_US' });
    const cleared = await patch(null);
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.data.settings.whatsapp_template, null);
  });

  it("PATCH /settings/organization sets what the bot tells patients about the clinic: address, contact phone and opening hours", async () => {
    const { admin } = await createTestOrg();
    const patch = (settings: Record<string, unknown>) => admin.client.patch('/api/v1/settings/organization', { settings });
    const set = await patch({
      address: '  Carrer Major 1, 08001 Barcelona ', contact_phone: '+34 931 23 45 67',
      opening_hours: { Monday: ['15:00-19:00', '09:00-13:00'], saturday: ['10:00-13:00'] },
    });
    assert.equal(set.status, 200);
    assert.equal(set.body.data.settings.address, 'Carrer Major 1, 08001 Barcelona');
    assert.equal(set.body.data.settings.contact_phone, '+34931234567', 'stored in E.164');
    assert.deepEqual(set.body.data.settings.opening_hours, {
      monday: ['09:00-13:00', '15:00-19:00'], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: ['10:00-13:00'], sunday: [],
    }, 'every day, ranges in order');
    const bad = await patch({ address: ' ', contact_phone: '931 23', opening_hours: { monday: ['09:00-13:00', '12:00-14:00'], funday: [], tuesday: ['9-5'] } });
    assert.equal(bad.status, 400);
    assert.deepEqual(fields(bad), [
      'settings.address', 'settings.contact_phone', 'settings.opening_hours.funday', 'settings.opening_hours.monday[1]', 'settings.opening_hours.tuesday[0]',
    ]);
    assert.equal((await admin.client.get('/api/v1/settings/organization')).body.data.settings.address, 'Carrer Major 1, 08001 Barcelona', 'nothing changed');
    const cleared = await patch({ address: null, contact_phone: null, opening_hours: null });
    assert.equal(cleared.status, 200);
    assert.deepEqual([cleared.body.data.settings.address, cleared.body.data.settings.contact_phone, cleared.body.data.settings.opening_hours], [null, null, null]);
  });

  it('GET and PATCH /settings/ai store the assistant settings and never return the API key', async () => {
    const { admin } = await createTestOrg();
    const before = await admin.client.get('/api/v1/settings/ai');
    assert.equal(before.status, 200);
    assert.equal(before.body.data.enabled, false);
    const res = await admin.client.patch('/api/v1/settings/ai', { enabled: true, model: 'gpt-4o', temperature: 0.5, system_prompt: 'Be brief.', api_key: 'sk-test-1234567890' });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.enabled, true);
    assert.equal(res.body.data.effective_model, 'gpt-4o');
    assert.equal(res.body.data.api_key_configured, true);
    assert.ok(!res.text.includes('sk-test-1234567890'), 'the key is never returned');
    const read = await admin.client.get('/api/v1/settings/ai');
    assert.ok(!read.text.includes('sk-test'), 'the key is never returned');
    assert.equal(read.body.data.system_prompt, 'Be brief.');
    const org = await admin.client.get('/api/v1/settings/organization');
    assert.ok(!org.text.includes('sk-test'), 'nor through the organization settings');
    const cleared = await admin.client.patch('/api/v1/settings/ai', { api_key: null, model: null });
    assert.equal(cleared.body.data.api_key_configured, false);
    assert.equal(cleared.body.data.model, null);
    assert.equal(cleared.body.data.enabled, true);
    const bad = await admin.client.patch('/api/v1/settings/ai', { temperature: 3, enabled: 'yes' });
    assert.equal(bad.status, 400);
    assert.deepEqual(fields(bad), ['enabled', 'temperature']);
  });

  it('settings need settings.manage: staff and providers get 403, anonymous 401', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const res = await staff.client.patch('/api/v1/settings/organization', { name: 'Hijack' });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.details.required_permission, 'settings.manage');
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    assert.equal((await provider.client.get('/api/v1/settings/ai')).status, 403);
    const anonymous = new ApiClient((await testService()).url);
    assert.equal((await anonymous.get('/api/v1/settings/organization')).status, 401);
  });

  it('nextSendTime moves a send inside the quiet hours to their end in the clinic zone', () => {
    const quiet = { start: '21:00', end: '08:00' };
    // 22:30 in Madrid (CET, UTC+1) -> 08:00 the next morning local = 07:00Z.
    assert.equal(nextSendTime(quiet, 'Europe/Madrid', new Date('2025-01-15T21:30:00Z')).toISOString(), '2025-01-16T07:00:00.000Z');
    // 06:00 local -> 08:00 the same day.
    assert.equal(nextSendTime(quiet, 'Europe/Madrid', new Date('2025-01-15T05:00:00Z')).toISOString(), '2025-01-15T07:00:00.000Z');
    // Outside the window: unchanged; null disables.
    assert.equal(nextSendTime(quiet, 'Europe/Madrid', new Date('2025-01-15T12:00:00Z')).toISOString(), '2025-01-15T12:00:00.000Z');
    assert.equal(nextSendTime(null, 'UTC', new Date('2025-01-15T23:00:00Z')).toISOString(), '2025-01-15T23:00:00.000Z');
  });
});
