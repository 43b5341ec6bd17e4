import assert from 'node:assert/strict';
import { initialState, step } from '../../bot/dialogue/index.js';
import { LANGS } from '../../bot/understanding/types.js';
import { actionsOf, appointment, at, Conversation, talk } from './harness.js';
import { PHRASES } from './phrases.js';

describe('bot/dialogue: booking', () => {
  for (const lang of LANGS) {
    const p = PHRASES[lang];
    describe(`in ${lang}`, () => {
      it(`books step by step: '${p.book}', '${p.specialty}', '${p.day}', '2', '${p.yes}'`, () => {
        const c = talk(lang);
        c.say(p.book);
        assert.deepEqual(c.keys, ['ask_specialty']);
        assert.deepEqual(c.last.options, ['Cardiology', 'Dermatology']);
        c.say(p.specialty);
        assert.deepEqual(c.keys, ['ask_day']);
        assert.equal(c.last.options.length, 5);
        c.say(p.day);
        assert.deepEqual(actionsOf(c, 'find_slots').at(-1), { type: 'find_slots', date: '2026-03-11', doctorId: 'doc_garcia', partOfDay: 'morning' });
        assert.deepEqual(c.keys, ['offer_slots']);
        assert.equal(c.last.options.length, 4, 'three morning slots and "another day"');
        c.say('2');
        assert.deepEqual(c.keys, ['confirm_booking']);
        c.say(p.yes);
        assert.deepEqual(actionsOf(c, 'book'), [{ type: 'book', doctorId: 'doc_garcia', startTime: at('2026-03-11', '09:30'), durationMinutes: 30 }]);
        assert.deepEqual(c.keys, ['booked']);
        assert.equal(c.last.params.doctor, 'Dr. Elena García');
        assert.match(c.last.text, /Carrer Major 1/);
        assert.equal(c.state?.flow, 'idle');
      });

      it(`books from one message: '${p.bookFull}'`, () => {
        const c = talk(lang);
        c.say(p.bookFull);
        assert.deepEqual(actionsOf(c, 'find_slots'), [{ type: 'find_slots', date: '2026-03-11', doctorId: 'doc_garcia', partOfDay: 'afternoon' }]);
        assert.deepEqual(c.keys, ['offer_slots']);
        c.say('1');
        c.say('1');
        assert.deepEqual(c.keys, ['booked']);
        assert.equal(actionsOf(c, 'book')[0]?.startTime, at('2026-03-11', '12:30'));
      });

      it('asks an unidentified web-chat visitor for name and phone, then resumes the request', () => {
        const c = talk(lang, { patient: { identified: false, name: null, hasPhone: false, optedOut: false }, channel: { name: 'webchat', needsPhone: true } });
        c.say(p.bookFull);
        assert.deepEqual(c.keys, ['ask_name']);
        c.say(p.name);
        assert.deepEqual(c.keys, ['nice_to_meet', 'ask_phone']);
        c.say('12');
        assert.deepEqual(c.keys, ['invalid_phone']);
        c.say('+34 612 345 678');
        assert.deepEqual(actionsOf(c, 'set_patient'), [{ type: 'set_patient', name: lang === 'hi' ? 'Ana' : 'Ana López' }, { type: 'set_patient', phone: '+34 612 345 678' }]);
        assert.deepEqual(c.keys, ['offer_slots'], 'the original request (cardiology, tomorrow afternoon) resumes');
        assert.equal(actionsOf(c, 'find_slots')[0]?.partOfDay, 'afternoon');
      });

      it('takes a bare name on a channel that knows the phone', () => {
        const c = talk(lang, { patient: { identified: false, name: null, hasPhone: true, optedOut: false } });
        c.say(p.book);
        assert.deepEqual(c.keys, ['ask_name']);
        c.say('Ana López');
        assert.deepEqual(c.keys, ['nice_to_meet', 'ask_specialty']);
        assert.equal(c.state?.language, lang, 'a name does not switch the language');
      });

      it(`offers a person on the third misunderstanding in a row, then hands off on '1'`, () => {
        const c = talk(lang);
        c.say(p.gibberish);
        assert.deepEqual(c.keys, ['not_understood', 'menu']);
        c.say(p.gibberish);
        assert.deepEqual(c.keys, ['not_understood', 'menu']);
        c.say(p.gibberish);
        assert.deepEqual(c.keys, ['offer_person']);
        c.say('1');
        const [handoff] = actionsOf(c, 'handoff');
        assert.equal(handoff?.category, 'human');
        assert.equal(handoff?.priority, 'medium');
        assert.deepEqual(c.keys, ['handoff_told']);
        assert.equal(c.last.params.ticket, 'TKT-0042');
        assert.equal(c.state?.flow, 'handoff');
      });

      it(`returns to the main menu with '${p.menu}' and with '0' from the middle of a booking`, () => {
        const c = talk(lang);
        c.say(p.book);
        c.say(p.menu);
        assert.deepEqual(c.keys, ['menu']);
        assert.equal(c.state?.flow, 'idle');
        c.say(p.book);
        c.say('0');
        assert.deepEqual(c.keys, ['menu']);
      });
    });
  }

  it('books with numbers only: hello, 1, 2, 2, 1, 1 (a specialty searches all its doctors)', () => {
    const c = talk('en');
    c.say('hello');
    assert.deepEqual(c.keys, ['welcome']);
    assert.deepEqual(c.last.options, ['Book an appointment', 'My appointments', 'Change an appointment', 'Cancel an appointment', 'Talk to a person']);
    c.say('1');
    assert.deepEqual(c.keys, ['ask_specialty']);
    c.say('2');
    assert.deepEqual(c.keys, ['ask_day']);
    c.say('2');
    assert.deepEqual(actionsOf(c, 'find_slots')[0], { type: 'find_slots', date: '2026-03-11', specialization: 'Dermatology' });
    assert.match(c.last.options[0]!, /Dr\. Raj Patel/, 'slots of several doctors name the doctor');
    c.say('1');
    c.say('1');
    assert.deepEqual(c.keys, ['booked']);
    assert.equal(c.last.params.doctor, 'Dr. Raj Patel');
  });

  it('lists the doctors by number when the clinic has one specialty', () => {
    const c = talk('es');
    const ctx = { ...c.ctx, doctors: c.ctx.doctors.filter((d) => d.specialization === 'Dermatology') };
    const result = step(initialState('es'), { type: 'message', text: '1', understanding: { intent: 'choose', language: null, choice: 1 } }, { ...ctx, specializations: ['Dermatology'] });
    assert.deepEqual(result.actions, [{ type: 'reply', key: 'ask_doctor', options: [{ value: '1', label: 'Dr. Raj Patel' }, { value: '2', label: 'Dra. Marta Puig' }] }]);
    const next = step(result.state, { type: 'message', text: '2', understanding: { intent: 'choose', language: null, choice: 2 } }, { ...ctx, specializations: ['Dermatology'] });
    assert.equal(next.state.step, 'ask_day');
    assert.equal(next.state.data.doctorId, 'doc_puig');
  });

  it('goes straight to confirmation when the asked time is free', () => {
    const c = talk('es');
    c.say('quiero cita con la Dra. Puig el jueves a las 16:30');
    assert.deepEqual(c.keys, ['confirm_booking']);
    c.say('1');
    assert.equal(actionsOf(c, 'book')[0]?.startTime, at('2026-03-12', '16:30'));
  });

  it('at the times offered, takes one by its time, and looks for a time of the same day that was not offered', () => {
    const c = talk('ca');
    c.say('vull una cita amb la Dra. Puig dijous');
    assert.deepEqual(c.keys, ['offer_slots']);
    assert.equal(c.last.options.length, 6, 'five times and another day');
    c.say('la de les 10');
    assert.deepEqual(c.keys, ['confirm_booking'], 'an offered time, by its hour');
    c.say('no');
    c.say('i a les 18:00?');
    assert.deepEqual(c.keys, ['confirm_booking'], '18:00 was free but not among the five offered');
    c.say('sí');
    assert.equal(actionsOf(c, 'book')[0]?.startTime, at('2026-03-12', '18:00'));
    assert.equal(actionsOf(c, 'find_slots').at(-1)?.date, '2026-03-12', 'the same day was searched again');
  });

  it('keeps the day asked for while it asks for the specialty, and through identification', () => {
    const c = talk('en');
    c.say('I want to book tomorrow afternoon');
    assert.deepEqual(c.keys, ['ask_specialty']);
    c.say('1');
    assert.deepEqual(actionsOf(c, 'find_slots').at(-1), { type: 'find_slots', date: '2026-03-11', doctorId: 'doc_garcia', partOfDay: 'afternoon' });
    const visitor = new Conversation('hi', { patient: { identified: false, name: null, hasPhone: false, optedOut: false }, channel: { name: 'webchat', needsPhone: true } });
    visitor.say('mujhe kal shaam ko bachchon ke doctor se milna hai');
    assert.deepEqual(visitor.keys, ['ask_name']);
    visitor.say('Rahul Sharma');
    visitor.say('+91 98765 43210');
    assert.deepEqual(visitor.keys, ['ask_specialty']);
    visitor.say('2');
    assert.deepEqual(actionsOf(visitor, 'find_slots').at(-1), { type: 'find_slots', date: '2026-03-11', specialization: 'Dermatology', partOfDay: 'evening' });
  });

  it("'as soon as possible' searches from today on, and 'any time is fine' takes the first time offered", () => {
    const c = talk('en');
    c.fullDays.add('2026-03-10');
    c.say('book cardiology as soon as possible');
    assert.deepEqual(actionsOf(c, 'find_slots').map((a) => a.date), ['2026-03-10', '2026-03-11'], 'today is full: tomorrow');
    assert.deepEqual(c.keys, ['no_slots_day', 'offer_slots']);
    c.say('any time is fine');
    assert.deepEqual(c.keys, ['confirm_booking']);
    c.say('yes');
    assert.equal(actionsOf(c, 'book')[0]?.startTime, at('2026-03-11', '09:00'));

    const es = talk('es');
    es.say('quiero pedir cita');
    es.say('cardiología');
    assert.deepEqual(es.keys, ['ask_day']);
    es.say('lo antes posible');
    assert.equal(actionsOf(es, 'find_slots')[0]?.date, '2026-03-10');
    const hi = talk('hi');
    hi.say('jaldi se jaldi dermatology ka appointment chahiye');
    assert.deepEqual(actionsOf(hi, 'find_slots')[0], { type: 'find_slots', date: '2026-03-10', specialization: 'Dermatology' });
  });

  it('writes the days it offers as it writes the times ("Thursday 12 March", "jueves 12 de marzo")', () => {
    for (const [lang, third] of [['en', 'Thursday 12 March'], ['es', 'jueves 12 de marzo'], ['ca', 'dijous 12 de març'], ['hi', 'गुरुवार 12 मार्च']] as const) {
      const c = talk(lang);
      c.say(PHRASES[lang].book);
      c.say('1');
      assert.deepEqual(c.keys, ['ask_day']);
      assert.equal(c.last.options[2], third, lang);
    }
  });

  it('searches the next days when the asked day is full', () => {
    const c = talk('en');
    c.fullDays.add('2026-03-11');
    c.fullDays.add('2026-03-12');
    c.say('book cardiology tomorrow');
    assert.deepEqual(c.keys, ['no_slots_day', 'offer_slots']);
    assert.deepEqual(actionsOf(c, 'find_slots').map((a) => a.date), ['2026-03-11', '2026-03-12', '2026-03-13']);
  });

  it('asks for another day after three more full days', () => {
    const c = talk('ca');
    for (const d of ['2026-03-11', '2026-03-12', '2026-03-13', '2026-03-14']) c.fullDays.add(d);
    c.say('vull una cita de cardiologia per demà');
    assert.deepEqual(c.keys, ['no_slots_day', 'no_slots_ask_day']);
    assert.equal(c.state?.step, 'ask_day');
    c.say('dilluns');
    assert.deepEqual(c.keys, ['offer_slots']);
  });

  it('offers fresh slots when the chosen one was just taken', () => {
    const c = talk('hi');
    c.conflictsLeft = 1;
    c.say('kal subah cardiology ka appointment chahiye');
    c.say('1');
    c.say('haan');
    assert.deepEqual(c.keys, ['booking_conflict']);
    assert.equal(c.state?.step, 'choose_slot');
    c.say('2');
    c.say('1');
    assert.deepEqual(c.keys, ['booked']);
  });

  it("goes back to the times on 'no' at the confirmation, and to the days on 'another day'", () => {
    const c = talk('en');
    c.say('book cardiology tomorrow');
    c.say('1');
    c.say('no');
    assert.deepEqual(c.keys, ['booking_kept_open']);
    c.say('6');
    assert.deepEqual(c.keys, ['ask_day']);
  });

  it("stops the booking on a bare 'cancel'", () => {
    const c = talk('en');
    c.say('book cardiology');
    c.say('cancel');
    assert.deepEqual(c.keys, ['flow_stopped', 'menu']);
    assert.equal(c.state?.flow, 'idle');
  });

  it('switches language mid-conversation and answers in the new one', () => {
    const c = talk('en');
    c.say('I want to book an appointment');
    c.say('cardiology');
    c.say('mañana por la tarde');
    assert.deepEqual(actionsOf(c, 'set_language'), [{ type: 'set_language', language: 'es' }]);
    assert.equal(c.state?.language, 'es');
    assert.match(c.last.text, /^Estas horas están libres/);
    c.say('1');
    assert.match(c.last.text, /^¿Reservo/);
    c.say('kal subah');
    assert.equal(c.state?.language, 'hi');
    assert.match(c.last.text, /[\u0900-\u097f]/);
  });

  it('keeps the language on replies that carry none (numbers, ok)', () => {
    const c = talk('ca');
    c.say('1');
    c.say('ok');
    assert.equal(actionsOf(c, 'set_language').length, 0);
    assert.equal(c.state?.language, 'ca');
  });

  it('resets the misunderstanding count on any understood message', () => {
    const c = talk('en');
    c.say('qwerty');
    c.say('qwerty');
    c.say('book an appointment');
    c.say('qwerty');
    assert.deepEqual(c.keys, ['not_understood', 'ask_specialty']);
    assert.equal(c.state?.misunderstood, 1);
  });

  it('starts from no state in the language of the first message', () => {
    const c = new Conversation('en');
    c.say('hola, quiero pedir cita');
    assert.equal(c.state?.language, 'es');
    assert.deepEqual(c.keys, ['ask_specialty']);
  });

  it('skips the doctor question when the clinic has one doctor', () => {
    const result = step(initialState('en'), { type: 'message', text: 'book tomorrow', understanding: { intent: 'book', language: 'en', date: '2026-03-11' } }, {
      ...new Conversation('en').ctx, specializations: ['General Practice'], doctors: [{ id: 'doc_1', name: 'Dr. Solo', specialization: 'General Practice' }],
    });
    assert.deepEqual(result.actions, [{ type: 'find_slots', date: '2026-03-11', doctorId: 'doc_1' }]);
  });

  it('treats "cardiology on Friday" in the idle state as a booking request', () => {
    const c = talk('en');
    c.appointments = [appointment('apt_1', '2026-03-20', '10:00')];
    c.say('cardiology on friday');
    assert.equal(actionsOf(c, 'find_slots')[0]?.date, '2026-03-13');
  });
  it('marks the phone question and its repetition as asking for the phone (a channel may offer a share button), and no other reply', () => {
    const c = talk('en', { patient: { identified: false, name: null, hasPhone: false, optedOut: false }, channel: { name: 'telegram', needsPhone: true } });
    const asks = () => c.lastActions.flatMap((a) => (a.type === 'reply' ? [`${a.key}:${a.asks ?? '-'}`] : []));
    c.say('I want an appointment');
    assert.deepEqual(asks(), ['ask_name:-']);
    c.say('Ana López');
    assert.deepEqual(asks(), ['nice_to_meet:-', 'ask_phone:phone']);
    c.say('12');
    assert.deepEqual(asks(), ['invalid_phone:phone']);
    c.say('+34 612 345 678');
    assert.deepEqual(asks(), ['ask_specialty:-']);
  });

  it('asks a patient whose name is known only for the phone, marked as asking for it', () => {
    const c = talk('es', { patient: { identified: true, name: 'Ana', hasPhone: false, optedOut: false }, channel: { name: 'telegram', needsPhone: true } });
    c.say('quiero pedir cita');
    assert.deepEqual(c.lastActions.filter((a) => a.type === 'reply'), [{ type: 'reply', key: 'ask_phone', asks: 'phone' }]);
  });
});
