import assert from 'node:assert/strict';
import { initialState } from '../../bot/dialogue/index.js';
import { LANGS, type Lang } from '../../bot/understanding/types.js';
import { actionsOf, appointment, at, Conversation } from './harness.js';
import { PHRASES } from './phrases.js';

/** A patient with two upcoming appointments (and a past one the bot must not show). */
function patient(lang: Lang): Conversation {
  const c = new Conversation(lang);
  c.state = initialState(lang);
  c.appointments = [
    appointment('apt_past', '2026-03-01', '10:00'),
    appointment('apt_b', '2026-03-20', '16:00', 'doc_patel'),
    appointment('apt_a', '2026-03-12', '10:00'),
  ];
  return c;
}

describe('bot/dialogue: appointments, handoff, emergency, opt-out', () => {
  for (const lang of LANGS) {
    const p = PHRASES[lang];
    describe(`in ${lang}`, () => {
      it(`lists upcoming appointments on '${p.list}'`, () => {
        const c = patient(lang);
        c.say(p.list);
        assert.deepEqual(c.keys, ['appointments_list', 'menu']);
        const list = String(c.turnReplies[0]!.params.list).split('\n');
        assert.equal(list.length, 2);
        assert.match(list[0]!, /Elena García/);
        assert.match(list[1]!, /Raj Patel/);
      });

      it(`says there are none and offers booking ('1')`, () => {
        const c = patient(lang);
        c.appointments = [];
        c.say(p.list);
        assert.deepEqual(c.keys, ['appointments_none']);
        c.say('1');
        assert.deepEqual(c.keys, ['ask_specialty']);
      });

      it(`cancels: '${p.cancel}', '1', '${p.yes}'`, () => {
        const c = patient(lang);
        c.say(p.cancel);
        assert.deepEqual(c.keys, ['choose_cancel']);
        assert.equal(c.last.options.length, 2);
        c.say('1');
        assert.deepEqual(c.keys, ['confirm_cancel']);
        c.say(p.yes);
        assert.deepEqual(actionsOf(c, 'cancel'), [{ type: 'cancel', appointmentId: 'apt_a' }]);
        assert.deepEqual(c.keys, ['cancelled']);
      });

      it(`keeps the appointment on '${p.no}'`, () => {
        const c = patient(lang);
        c.appointments = c.appointments.slice(0, 2);
        c.say(p.cancel);
        assert.deepEqual(c.keys, ['confirm_cancel'], 'one appointment needs no choice');
        c.say(p.no);
        assert.deepEqual(c.keys, ['cancel_kept', 'menu']);
        assert.equal(actionsOf(c, 'cancel').length, 0);
      });

      it('offers a person when the cancellation is inside the window', () => {
        const c = patient(lang);
        c.locked.add('apt_a');
        c.say(p.cancel);
        c.say('1');
        c.say('1');
        assert.deepEqual(c.keys, ['cancel_refused']);
        c.say('1');
        assert.equal(actionsOf(c, 'handoff')[0]?.category, 'human');
      });

      it(`reschedules: '${p.reschedule}', '2', '${p.day}', '1', '${p.yes}'`, () => {
        const c = patient(lang);
        c.say(p.reschedule);
        assert.deepEqual(c.keys, ['choose_reschedule']);
        c.say('2');
        assert.deepEqual(c.keys, ['ask_day']);
        c.say(p.day);
        assert.deepEqual(actionsOf(c, 'find_slots')[0], { type: 'find_slots', date: '2026-03-11', doctorId: 'doc_patel', partOfDay: 'morning' });
        c.say('1');
        assert.deepEqual(c.keys, ['confirm_reschedule']);
        c.say(p.yes);
        assert.deepEqual(actionsOf(c, 'reschedule'), [{ type: 'reschedule', appointmentId: 'apt_b', doctorId: 'doc_patel', startTime: at('2026-03-11', '09:00'), durationMinutes: 30 }]);
        assert.deepEqual(c.keys, ['rescheduled']);
      });

      it(`reschedules from one message naming both days: '${p.move}'`, () => {
        const c = patient(lang);
        c.say(p.move);
        assert.deepEqual(c.keys, ['confirm_reschedule'], 'Thursday names the appointment, Friday 16:00 is free');
        assert.deepEqual(actionsOf(c, 'find_slots')[0], { type: 'find_slots', date: '2026-03-13', doctorId: 'doc_garcia', partOfDay: 'afternoon' });
        c.say(p.yes);
        assert.deepEqual(actionsOf(c, 'reschedule'), [{ type: 'reschedule', appointmentId: 'apt_a', doctorId: 'doc_garcia', startTime: at('2026-03-13', '16:00'), durationMinutes: 30 }]);
      });

      for (const [kind, text, priority] of [['human', p.human, 'medium'], ['billing', p.billing, 'medium'], ['results', p.results, 'medium'], ['complaint', p.complaint, 'high']] as const) {
        it(`hands off '${text}' as ${kind} (${priority}) and tells the ticket number`, () => {
          const c = patient(lang);
          c.say(p.book);
          c.say(text);
          const [handoff] = actionsOf(c, 'handoff');
          assert.equal(handoff?.category, kind);
          assert.equal(handoff?.priority, priority);
          assert.ok(handoff!.summary.length < 260);
          assert.deepEqual(c.keys, ['handoff_told']);
          assert.match(c.last.text, /TKT-0042/);
          assert.equal(c.state?.flow, 'handoff');
        });
      }

      for (const text of p.emergency) {
        it(`answers '${text}' with emergency guidance and an urgent ticket, even mid-booking`, () => {
          const c = patient(lang);
          c.say(p.bookFull);
          c.say(text);
          assert.equal(c.turnReplies[0]?.key, 'emergency');
          assert.match(c.turnReplies[0]!.text, /112/);
          const [handoff] = actionsOf(c, 'handoff');
          assert.equal(handoff?.category, 'emergency');
          assert.equal(handoff?.priority, 'urgent');
          assert.deepEqual(c.keys, ['emergency', 'emergency_ticket']);
          assert.equal(c.state?.flow, 'handoff');
          assert.equal(actionsOf(c, 'book').length, 0);
        });
      }

      it(`opts out on '${p.optOut}' and back in on '${p.optIn}'`, () => {
        const c = patient(lang);
        c.say(p.optOut);
        assert.deepEqual(c.keys, ['opted_out']);
        assert.deepEqual(c.lastActions.map((a) => a.type), ['reply', 'opt_out']);
        assert.equal(c.patient.optedOut, true);
        c.say(p.optIn);
        assert.deepEqual(c.keys, ['opted_in', 'menu']);
        assert.equal(c.patient.optedOut, false);
      });

      it(`answers a reminder: '1' confirms`, () => {
        const c = patient(lang);
        c.reminder('apt_a', '1');
        assert.deepEqual(actionsOf(c, 'confirm'), [{ type: 'confirm', appointmentId: 'apt_a' }]);
        assert.deepEqual(c.keys, ['reminder_confirmed']);
      });

      it(`answers a reminder: '${p.yes}' confirms`, () => {
        const c = patient(lang);
        c.reminder('apt_a', p.yes);
        assert.deepEqual(actionsOf(c, 'confirm'), [{ type: 'confirm', appointmentId: 'apt_a' }]);
      });

      it(`answers a reminder: '2' and '${p.reschedule}' start rescheduling that appointment`, () => {
        for (const text of ['2', p.reschedule]) {
          const c = patient(lang);
          c.reminder('apt_b', text);
          assert.deepEqual(c.keys, ['ask_day']);
          assert.equal(c.state?.flow, 'reschedule');
          assert.equal(c.state?.data.appointmentId, 'apt_b');
        }
      });

      it(`answers a reminder: '3' and '${p.cancel}' cancel at once`, () => {
        for (const text of ['3', p.cancel]) {
          const c = patient(lang);
          c.reminder('apt_a', text);
          assert.deepEqual(actionsOf(c, 'cancel'), [{ type: 'cancel', appointmentId: 'apt_a' }]);
          assert.deepEqual(c.keys, ['cancelled']);
        }
      });

      it(`repeats the reminder options on '${p.no}', and a following '3' still cancels`, () => {
        const c = patient(lang);
        c.reminder('apt_a', p.no);
        assert.deepEqual(c.keys, ['reminder_options']);
        assert.equal(c.last.options.length, 3);
        c.say('3');
        assert.deepEqual(actionsOf(c, 'cancel'), [{ type: 'cancel', appointmentId: 'apt_a' }]);
      });

      it(`says goodbye on '${p.thanks}' after a booking`, () => {
        const c = patient(lang);
        c.say(p.bookFull);
        c.say('1');
        c.say('1');
        c.say(p.thanks);
        assert.deepEqual(c.keys, ['thanks_bye']);
      });
    });
  }

  it('cancels the one appointment on the day named in the request', () => {
    const c = patient('es');
    c.say('quiero cancelar mi cita del jueves');
    assert.deepEqual(c.keys, ['confirm_cancel']);
    assert.equal(c.state?.data.appointmentId, 'apt_a');
  });

  it('moves an appointment to the day named in the request', () => {
    const c = patient('en');
    c.appointments = c.appointments.slice(0, 2);
    c.say('can I move my appointment to friday afternoon?');
    assert.deepEqual(actionsOf(c, 'find_slots')[0], { type: 'find_slots', date: '2026-03-13', doctorId: 'doc_patel', partOfDay: 'afternoon' });
    assert.deepEqual(c.keys, ['offer_slots']);
  });

  it('offers fresh slots when the new time of a reschedule was just taken', () => {
    const c = patient('ca');
    c.conflictsLeft = 1;
    c.reminder('apt_a', '2');
    c.say('demà');
    c.say('1');
    c.say('1');
    assert.deepEqual(c.keys, ['reschedule_conflict']);
  });

  it('offers a person when a reschedule is inside the window', () => {
    const c = patient('hi');
    c.locked.add('apt_a');
    c.reminder('apt_a', '2');
    c.say('kal');
    c.say('1');
    c.say('1');
    assert.deepEqual(c.keys, ['reschedule_refused']);
    assert.equal(c.state?.step, 'offer_person');
  });

  it('says so when a reminder is about an appointment that is gone', () => {
    const c = patient('en');
    c.reminder('apt_gone', '2');
    assert.deepEqual(c.keys, ['appointment_not_found', 'menu']);
  });

  it('confirms an appointment asked for in words', () => {
    const c = patient('en');
    c.say('I confirm my appointment');
    c.say('2');
    assert.deepEqual(actionsOf(c, 'confirm'), [{ type: 'confirm', appointmentId: 'apt_b' }]);
  });

  it('keeps the handoff summary short and free of long patient text', () => {
    const c = patient('en');
    c.say(`I want to make a complaint ${'about the waiting room '.repeat(20)}`);
    const summary = actionsOf(c, 'handoff')[0]!.summary;
    assert.ok(summary.length <= 260, summary);
    assert.match(summary, /^complaint/);
  });

  it('starts over from the menu when a message arrives after staff gave the conversation back', () => {
    const c = patient('en');
    c.say('agent');
    c.say('hello');
    assert.deepEqual(c.keys, ['welcome']);
    assert.equal(c.state?.flow, 'idle');
  });

  it('ignores a result the current step is not waiting for', () => {
    const c = patient('en');
    const before = c.state;
    c.run({ type: 'booked', appointment: appointment('apt_x', '2026-03-12', '10:00') });
    assert.deepEqual(c.state, before);
    assert.deepEqual(c.keys, []);
  });
});
