import assert from 'node:assert/strict';
import type { RunningService } from '../../main.js';
import { CLINIC_CHANGED_CHANNEL } from '../../models/clinicChanges.js';
import { Ticket } from '../../models/tickets.js';
import { buildDoctor, buildPatient } from '../support/factories.js';
import { buildClinic, Chat, keys, startEngineService } from './engineSupport.js';

describe('conversation engine: questions about the clinic', function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => { svc = await startEngineService(); });
  after(async () => { await svc.stop(); });

  it('answers from the settings an admin PATCHes, at the next turn on another instance (the cached clinic is dropped through NOTIFY)', async () => {
    const t = await buildClinic(svc, { address: 'Carrer Major 1, Barcelona' });
    const other = await startEngineService();
    try {
      const ana = await buildPatient(t, { preferred_language: 'es' });
      const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!, other.engine);
      const [before] = await chat.say('¿dónde estáis?');
      assert.equal(before!.content, 'Nuestra dirección es Carrer Major 1, Barcelona.');

      let heard = () => {};
      const changed = new Promise<void>((resolve) => { heard = resolve; });
      const unlisten = await svc.deps.db.listen(CLINIC_CHANGED_CHANNEL, (org) => { if (org === t.org.id) heard(); });
      const res = await t.admin.client.patch('/api/v1/settings/organization', {
        settings: { address: 'Avinguda Diagonal 200, Barcelona', contact_phone: '+34931234567', opening_hours: { monday: ['09:00-14:00'], friday: ['09:00-14:00'] } },
      });
      assert.equal(res.status, 200);
      await changed;
      await unlisten();

      const replies = await chat.say('dirección, teléfono y horario');
      assert.deepEqual(keys(replies), ['clinic_address', 'clinic_hours', 'clinic_phone', 'menu']);
      assert.equal(replies[0]!.content, 'Nuestra dirección es Avinguda Diagonal 200, Barcelona.');
      assert.equal(replies[1]!.content, 'Nuestro horario:\nLunes: 09:00–14:00\nMartes a jueves: cerrado\nViernes: 09:00–14:00\nSábado a domingo: cerrado');
      assert.equal(replies[2]!.content, 'Puedes llamarnos al +34 931 23 45 67.');
    } finally {
      await other.stop();
    }
  });

  it("without settings: tells the hours its doctors work together and the number it answers calls on, and offers a person for the address, whose ticket says what was asked", async () => {
    const t = await buildClinic(svc, { voice_number: '+34930000001' });
    await buildDoctor(t, { name: 'Dr. Night', working_hours: { monday: ['19:00-22:00'], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] } });
    const ana = await buildPatient(t, { preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!);

    const [hours] = await chat.say('what are your opening hours?');
    assert.equal(hours!.content, 'Our opening hours:\nMonday: 08:00–22:00\nTuesday to Sunday: 08:00–20:00');
    const [phone] = await chat.say("what's your phone number?");
    assert.equal(phone!.content, 'You can call us on +34 930 00 00 01.');

    const offer = await chat.say('where are you?');
    assert.deepEqual(keys(offer), ['clinic_info_missing']);
    assert.deepEqual(keys(await chat.say('1')), ['handoff_told']);
    const [ticket] = await Ticket.query(svc.deps.db.knex).where({ organization_id: t.org.id });
    assert.match(ticket!.description ?? '', /address/);
    assert.equal((await chat.conversation()).status, 'handoff');
  });
});
