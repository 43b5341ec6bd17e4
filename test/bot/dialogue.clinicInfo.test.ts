import assert from 'node:assert/strict';
import { weeklyHoursText } from '../../bot/dialogue/clinicInfo.js';
import { LANGS } from '../../bot/understanding/types.js';
import { actionsOf, talk } from './harness.js';
import { PHRASES } from './phrases.js';

describe('bot/dialogue: questions about the clinic, and what only staff answer', () => {
  for (const lang of LANGS) {
    const p = PHRASES[lang];
    describe(`in ${lang}`, () => {
      it(`tells the address on '${p.where}', then shows the menu`, () => {
        const c = talk(lang);
        c.say(p.where);
        assert.deepEqual(c.keys, ['clinic_address', 'menu']);
        assert.match(c.turnReplies[0]!.text, /Carrer Major 1, Barcelona/);
      });

      it(`tells the opening hours on '${p.hours}', a line per run of days`, () => {
        const c = talk(lang);
        c.say(p.hours);
        assert.deepEqual(c.keys, ['clinic_hours', 'menu']);
        const lines = c.turnReplies[0]!.text.split('\n').slice(1);
        assert.equal(lines.length, 4, 'Monday-Thursday, Friday, Saturday, Sunday');
        assert.match(lines[0]!, /09:00–14:00, 16:00–20:00$/);
        assert.match(lines[3]!, /: \S+$/, 'Sunday is closed');
      });

      it(`tells the phone number on '${p.phone}'`, () => {
        const c = talk(lang);
        c.say(p.phone);
        assert.deepEqual(c.keys, ['clinic_phone', 'menu']);
        assert.match(c.turnReplies[0]!.text, /\+34 931 23 45 67/);
      });

      it(`hands a price question ('${p.price}') to staff as billing`, () => {
        const c = talk(lang);
        c.say(p.price);
        assert.equal(actionsOf(c, 'handoff')[0]?.category, 'billing');
      });

      it(`hands a patient running late ('${p.late}') to staff at once, as a high-priority ticket`, () => {
        const c = talk(lang);
        c.say(p.late);
        const [handoff] = actionsOf(c, 'handoff');
        assert.deepEqual([handoff?.category, handoff?.priority], ['late', 'high']);
        assert.deepEqual(c.keys, ['handoff_told']);
      });

      it(`answers a prescription or medication question ('${p.medical}') with no advice, only a handoff to the team`, () => {
        const c = talk(lang);
        c.say(p.medical);
        assert.equal(actionsOf(c, 'handoff')[0]?.category, 'medical');
        assert.deepEqual(c.keys, ['no_medical_advice', 'handoff_told']);
      });

      it('offers a person when the clinic has not given its address, and the ticket says what was asked', () => {
        const c = talk(lang, { clinic: { address: null, phone: null, openingHours: null } });
        c.say(p.where);
        assert.deepEqual(c.keys, ['clinic_info_missing']);
        assert.equal(c.last.options.length, 2);
        c.say('1');
        const [handoff] = actionsOf(c, 'handoff');
        assert.equal(handoff?.category, 'human');
        assert.match(handoff!.summary, /address/);
      });
    });
  }

  it('answers every topic asked in one message, and all three when none is named', () => {
    const c = talk('en');
    c.say('address and phone please');
    assert.deepEqual(c.keys, ['clinic_address', 'clinic_phone', 'menu']);
    c.say('contact details');
    assert.deepEqual(c.keys, ['clinic_phone', 'menu']);
  });

  it('answers in the middle of a booking and asks the booking question again, losing nothing', () => {
    const c = talk('en');
    c.say('I want to book an appointment');
    c.say('cardiology');
    assert.deepEqual(c.keys, ['ask_day']);
    c.say('where are you?');
    assert.deepEqual(c.keys, ['clinic_address', 'ask_day']);
    c.say('tomorrow');
    assert.deepEqual(c.keys, ['offer_slots']);
    const [search] = actionsOf(c, 'find_slots');
    assert.equal(search?.date, '2026-03-11', 'tomorrow, as asked after the question');
    assert.equal(search?.doctorId, 'doc_garcia', "the cardiologist chosen before the question");
  });

  it('in the middle of a booking, says what it does not know and goes on (no person offered, the booking kept)', () => {
    const c = talk('en', { clinic: { address: 'Carrer Major 1', phone: null, openingHours: null } });
    c.say('I want to book an appointment');
    c.say('cardiology');
    c.say('what are your opening hours?');
    assert.deepEqual(c.keys, ['clinic_info_unknown', 'ask_day']);
    assert.equal(c.state?.flow, 'book');
  });

  it('answers a visitor it does not know yet without asking their name first, then asks it again where it was', () => {
    const c = talk('en', { patient: { identified: false, name: null, hasPhone: false, optedOut: false }, channel: { name: 'webchat', needsPhone: true } });
    c.say('I want to book an appointment');
    assert.deepEqual(c.keys, ['ask_name']);
    c.say("what's the address?");
    assert.deepEqual(c.keys, ['clinic_address', 'ask_name']);
    c.say('Ana López');
    assert.equal(actionsOf(c, 'set_patient')[0]?.name, 'Ana López');
  });

  it('after offering a person for one question, answers the next one and shows the menu', () => {
    const c = talk('en', { clinic: { address: null, phone: '+34 931 23 45 67', openingHours: null } });
    c.say('where are you?');
    assert.deepEqual(c.keys, ['clinic_info_missing']);
    c.say('and your phone number?');
    assert.deepEqual(c.keys, ['clinic_phone', 'menu']);
  });

  it('writes the week in each language, days with the same hours together', () => {
    const week = { monday: ['08:00-14:00'], tuesday: ['08:00-14:00'], wednesday: ['08:00-14:00'], thursday: [], friday: ['08:00-14:00'], saturday: [], sunday: [] };
    assert.equal(weeklyHoursText('en', week), 'Monday to Wednesday: 08:00–14:00\nThursday: closed\nFriday: 08:00–14:00\nSaturday to Sunday: closed');
    assert.equal(weeklyHoursText('es', week)!.split('\n')[0], 'Lunes a miércoles: 08:00–14:00');
    assert.equal(weeklyHoursText('ca', week)!.split('\n')[1], 'Dijous: tancat');
    assert.equal(weeklyHoursText('hi', week)!.split('\n')[0], 'सोमवार से बुधवार: 08:00–14:00');
    assert.equal(weeklyHoursText('en', { monday: [], sunday: [] }), null, 'a week without hours is not known');
  });
});
