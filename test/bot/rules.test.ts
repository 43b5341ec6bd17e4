import assert from 'node:assert/strict';
import { RulesUnderstander, understandByRules } from '../../bot/understanding/rules.js';
import type { HandoffCategory, Intent, Lang, UnderstandContext, Understanding } from '../../bot/understanding/types.js';

const CTX: UnderstandContext = {
  now: new Date('2026-03-10T09:00:00Z'), timeZone: 'Europe/Madrid', languageHint: null,
  specializations: ['Cardiology', 'Dermatology', 'General Practice', 'Pediatrics'],
  doctors: [
    { id: 'doc_garcia', name: 'Dr. Elena García', specialization: 'Cardiology' },
    { id: 'doc_patel', name: 'Dr. Raj Patel', specialization: 'Dermatology' },
    { id: 'doc_garcia2', name: 'Dr. Pau Garcia', specialization: 'Pediatrics' },
  ],
};

function u(text: string, hint: Lang | null = null): Understanding {
  return understandByRules(text, { ...CTX, languageHint: hint });
}

const INTENTS: [Intent, Record<Lang, string[]>][] = [
  ['emergency', {
    en: ['I have chest pain', "I can't breathe", 'I want to kill myself', 'there is heavy bleeding', 'my father is unconscious', 'I think she is having a stroke'],
    es: ['tengo dolor en el pecho', 'no puedo respirar', 'quiero morir', 'hay un sangrado abundante', 'está inconsciente', 'me cuesta respirar'],
    ca: ['tinc dolor al pit', 'no puc respirar', 'em vull morir', 'sagnat abundant', 'està inconscient', 'em costa respirar'],
    hi: ['seene mein dard hai', 'saans nahi aa rahi', 'सीने में दर्द है', 'सांस नहीं आ रही', 'marna chahta hoon', 'behosh ho gaya'],
  }],
  ['opt_out', {
    en: ['STOP', 'stop please', 'STOPALL', 'unsubscribe', 'no more messages'],
    es: ['BAJA', 'parar', 'ALTO', 'no más mensajes'],
    ca: ['prou', 'baixa', 'no més missatges'],
    hi: ['band karo', 'बंद करो'],
  }],
  ['opt_in', { en: ['START', 'unstop'], es: ['ALTA', 'reanudar'], ca: ['alta'], hi: ['shuru', 'शुरू करो'] }],
  ['book', {
    en: ['I want to book an appointment', 'can I make an appointment?', 'Hi, I need an appointment'],
    es: ['quiero pedir cita', 'quiero una cita', 'reservar para el martes'],
    ca: ['vull demanar hora', 'vull una cita', 'reservar per dijous'],
    hi: ['appointment chahiye', 'doctor se milna hai', 'अपॉइंटमेंट चाहिए'],
  }],
  ['list_appointments', {
    en: ['show my appointments', 'when is my appointment?'], es: ['mis citas', '¿cuándo es mi cita?'],
    ca: ['les meves cites', 'quan és la meva cita?', 'tinc hora amb el Dr. Patel?'], hi: ['meri appointments', 'appointment kab hai'],
  }],
  ['cancel', {
    en: ['cancel', 'I want to cancel my appointment', "I can't make it"], es: ['cancelar', 'quiero cancelar mi cita', 'anular la cita'],
    ca: ['cancel·lar', 'vull cancel·lar la cita', 'no puc venir'], hi: ['radd karna hai', 'appointment cancel karna hai', 'रद्द करना है'],
  }],
  ['reschedule', {
    en: ['reschedule', 'can I change my appointment?', 'move my Monday appointment to Tuesday', 'can I shift the appointment?'],
    es: ['quiero cambiar mi cita', 'aplazar la cita', 'pasar mi cita del lunes al martes'],
    ca: ['vull canviar la cita', 'ajornar la cita'], hi: ['appointment badalna hai', 'बदलना है'],
  }],
  ['confirm', { en: ['I confirm'], es: ['confirmo la cita'], ca: ['confirmo'], hi: ['pakka aaunga'] }],
  ['affirm', { en: ['yes', 'ok', 'yes please'], es: ['sí', 'vale', 'de acuerdo'], ca: ['sí', "d'acord"], hi: ['haan', 'ji', 'हाँ', 'theek hai'] }],
  ['deny', { en: ['no', 'nope'], es: ['no', 'no gracias'], ca: ['no'], hi: ['nahi', 'नहीं'] }],
  ['thanks', { en: ['thanks!', 'thank you'], es: ['gracias'], ca: ['gràcies', 'merci'], hi: ['dhanyavad', 'shukriya', 'धन्यवाद'] }],
  ['greet', { en: ['hello', 'good morning'], es: ['hola', 'buenos días'], ca: ['bon dia'], hi: ['namaste', 'नमस्ते'] }],
  ['help', { en: ['help'], es: ['ayuda'], ca: ['ajuda'], hi: ['madad', 'मदद'] }],
  ['menu', { en: ['menu', '0'], es: ['inicio', 'menú'], ca: ['inici'], hi: ['मेनू'] }],
  ['clinic_info', {
    en: ['where are you located?', 'what are your opening hours?', "what's your phone number?", 'are you open on Saturday?', 'address please'],
    es: ['¿dónde estáis?', '¿cuál es el horario?', '¿a qué hora abren?', 'teléfono de la clínica', 'cómo llegar'],
    ca: ['on sou?', "quina és l'adreça?", 'a quina hora obriu?', 'el vostre telèfon'],
    hi: ['clinic kahan hai?', 'clinic kab khulta hai', 'aapka number kya hai', 'क्लिनिक कहाँ है', 'खुलने का समय'],
  }],
];

const HANDOFFS: [HandoffCategory, Record<Lang, string[]>][] = [
  ['human', {
    en: ['I want to talk to a person', 'agent', 'receptionist please'], es: ['quiero hablar con una persona', 'un agente'],
    ca: ['vull parlar amb una persona'], hi: ['kisi insaan se baat karni hai', 'kisi se baat karni hai'],
  }],
  ['billing', {
    en: ['question about my bill', 'invoice', 'how much does a consultation cost?', 'what are your prices', 'do you take my insurance?'],
    es: ['tengo una duda con la factura', 'el pago', '¿cuánto cuesta la consulta?', 'precio de la visita', '¿trabajáis con mi mutua?'],
    ca: ['la factura', 'el pagament', 'quant costa una visita?', 'quin preu té?'],
    hi: ['bhugtan', 'bill ke baare mein', 'consultation ki fees kitni hai', 'kitne paise lagenge', 'फीस कितनी है'],
  }],
  ['late', {
    en: ["I'm running late", 'I will be 10 minutes late', 'stuck in traffic, sorry'], es: ['llego tarde', 'me voy a retrasar un poco'],
    ca: ['faré tard', 'arribaré tard'], hi: ['thoda late ho jaunga', 'der ho jayegi'],
  }],
  ['medical', {
    en: ['I need a prescription refill', 'what should I take for a fever?', 'is it normal to feel dizzy?', 'side effects of my medication'],
    es: ['necesito una receta', '¿qué puedo tomar para la fiebre?', 'efectos secundarios'], ca: ['necessito una recepta', 'què puc prendre?'],
    hi: ['dawai khatam ho gayi', 'parchi chahiye', 'दवा'],
  }],
  ['results', { en: ['are my test results ready?', 'lab results'], es: ['mis resultados'], ca: ['els meus resultats'], hi: ['meri report', 'रिपोर्ट'] }],
  ['complaint', { en: ['I want to make a complaint'], es: ['quiero poner una queja', 'reclamación'], ca: ['tinc una queixa'], hi: ['shikayat karni hai', 'शिकायत'] }],
];

describe('bot/understanding/rules', () => {
  for (const [intent, byLang] of INTENTS) {
    describe(`intent ${intent}`, () => {
      for (const [lang, phrases] of Object.entries(byLang)) {
        for (const text of phrases) it(`understands '${text}' (${lang}) as ${intent}`, () => assert.equal(u(text).intent, intent));
      }
    });
  }

  describe('handoff categories', () => {
    for (const [category, byLang] of HANDOFFS) {
      for (const [lang, phrases] of Object.entries(byLang)) {
        for (const text of phrases) {
          it(`understands '${text}' (${lang}) as a ${category} handoff`, () => {
            const r = u(text);
            assert.equal(r.intent, 'handoff');
            assert.equal(r.handoffCategory, category);
          });
        }
      }
    }
  });

  describe('clinic questions', () => {
    const topics: [string, string[]][] = [
      ['where are you located?', ['address']], ['what are your opening hours?', ['hours']], ["what's your phone number?", ['phone']],
      ['I need your address and opening hours', ['address', 'hours']], ['address and phone please', ['address', 'phone']],
      ['¿dónde estáis y a qué hora abren?', ['address', 'hours']], ['horari', ['hours']], ['फ़ोन नंबर क्या है', ['phone']],
    ];
    for (const [text, expected] of topics) {
      it(`reads '${text}' as asking for ${expected.join(' and ')}`, () => {
        const r = u(text);
        assert.equal(r.intent, 'clinic_info');
        assert.deepEqual(r.infoTopics, expected);
      });
    }
    const others: [string, Intent][] = [
      ['can I take the 10:00 slot?', 'book'], ['book internal medicine tomorrow', 'book'], ['quiero cita mañana por la tarde', 'book'],
      ['my phone number is +34 612 345 678', 'provide_info'], ['where is my appointment?', 'list_appointments'],
      ['I want to book, what are your hours?', 'book'], ['I have chest pain, where are you?', 'emergency'],
      ['me cuesta respirar', 'emergency'], ['I moved house, please update my address on file', 'unknown'],
    ];
    for (const [text, intent] of others) it(`reads '${text}' as ${intent}, not a clinic question`, () => assert.equal(u(text).intent, intent));
  });

  describe('emergency wins and opt-out needs the bare keyword', () => {
    const cases: [string, Intent][] = [
      ['stop the pain', 'unknown'],
      ['cancel', 'cancel'],
      ['I want to cancel, I have chest pain', 'emergency'],
      ['stop, no puedo respirar', 'emergency'],
      ['quiero una cita, me duele el pecho', 'emergency'],
      ['please stop sending messages about the bill', 'handoff'],
      ['cancel all', 'cancel'],
      ['I got a sun burn', 'unknown'],
      ['llegaré tarde', 'handoff'],
      ['por la tarde', 'provide_info'],
    ];
    for (const [text, intent] of cases) it(`understands '${text}' as ${intent}`, () => assert.equal(u(text).intent, intent));
  });

  describe('choices', () => {
    const cases: [string, number][] = [
      ['1', 1], ['2.', 2], ['3)', 3], ['#4', 4], ['option 3', 3], ['opción 2', 2], ['the second one', 2], ['la segunda', 2],
      ['la 2', 2], ['el primero', 1], ['segona', 2], ['la tercera', 3], ['pehla', 1], ['doosra', 2], ['doosra wala', 2], ['दूसरा', 2],
      ['तीसरा', 3], ['two', 2], ['dos', 2], ['ek', 1], ['२', 2],
    ];
    for (const [text, choice] of cases) it(`understands '${text}' as choice ${choice}`, () => assert.equal(u(text).choice, choice));
    for (const text of ['at 2', 'a las 5', 'a la 1', '5 baje', 'I have 2 questions about a very long topic here', 'the 11:00 one', 'la de les 10.30']) {
      it(`does not read '${text}' as a choice`, () => assert.equal(u(text).choice, undefined));
    }
  });

  describe('language detection', () => {
    const cases: [string, Lang | null][] = [
      ['I want to book an appointment', 'en'], ['tomorrow', 'en'], ['mañana por la tarde', 'es'], ['quiero pedir cita', 'es'],
      ['demà al matí', 'ca'], ['vull demanar hora', 'ca'], ['kal subah', 'hi'], ['appointment chahiye', 'hi'], ['मुझे अपॉइंटमेंट चाहिए', 'hi'],
      ['1', null], ['ok', null], ['Dr. Garcia', null], ['+34 612 345 678', null], ['hola', null], ['sí', null],
    ];
    for (const [text, lang] of cases) it(`detects '${text}' as ${lang ?? 'unsure'}`, () => assert.equal(u(text).language, lang));
    it("uses the hint to settle a tie ('hola' with a Catalan hint is Catalan)", () => assert.equal(u('hola', 'ca').language, 'ca'));
    it('ignores a hint the words contradict', () => assert.equal(u('quiero pedir cita', 'ca').language, 'es'));
  });

  describe('names and phones', () => {
    const names: [string, string][] = [
      ['my name is Ana López', 'Ana López'], ["I'm Ana López", 'Ana López'], ['me llamo María José Pérez, gracias', 'María José Pérez'],
      ['em dic Jordi Puig i Serra', 'Jordi Puig'], ['mera naam Rahul Sharma hai', 'Rahul Sharma'], ['मेरा नाम राहुल शर्मा है', 'राहुल शर्मा'],
    ];
    for (const [text, name] of names) it(`finds the name '${name}' in '${text}'`, () => assert.equal(u(text).name, name));
    it("does not take 'I'm sick' as a name", () => assert.equal(u("I'm sick").name, undefined));
    const phones: [string, string | undefined][] = [
      ['+34 612 345 678', '+34 612 345 678'], ['my number is 612-345-678', '612-345-678'], ['+91 98765 43210', '+91 98765 43210'],
      ['2026-12-25', undefined], ['25/12/2026', undefined], ['12', undefined], ['+34 612', undefined],
    ];
    for (const [text, phone] of phones) it(`finds phone ${phone ?? 'none'} in '${text}' (a clinic in Madrid)`, () => assert.equal(u(text).phone, phone));
    // A number without its country code is read in the clinic's country, and only a number the clinic could dial counts.
    const inZone: [string, string, string | undefined][] = [
      ['98765 43210', 'Asia/Kolkata', '98765 43210'], ['98765 43210', 'Europe/Madrid', undefined],
      ['612345678', 'UTC', undefined], ['+34612345678', 'UTC', '+34612345678'],
    ];
    for (const [text, timeZone, phone] of inZone) {
      it(`finds phone ${phone ?? 'none'} in '${text}' at a clinic in ${timeZone}`, () => assert.equal(understandByRules(text, { ...CTX, timeZone }).phone, phone));
    }
  });

  describe('specializations and doctors', () => {
    const specs: [string, string][] = [
      ['cardiology', 'Cardiology'], ['cardiólogo', 'Cardiology'], ['cardiologia', 'Cardiology'], ['a heart doctor', 'Cardiology'],
      ['dermatóloga', 'Dermatology'], ['dermatòleg', 'Dermatology'], ['pediatra', 'Pediatrics'], ['medicina general', 'General Practice'],
      ['कार्डियोलॉजी', 'Cardiology'], ['bachchon ka doctor', 'Pediatrics'], ['un médico para mi niño', 'Pediatrics'], ['per a la nena', 'Pediatrics'],
      ['बच्चे के डॉक्टर', 'Pediatrics'],
    ];
    for (const [text, spec] of specs) it(`matches '${text}' to ${spec}`, () => assert.equal(u(text).specialization, spec));
    it("matches 'Dr. Patel' to doc_patel", () => assert.equal(u('con el Dr. Patel').doctorId, 'doc_patel'));
    it("matches 'doctora Elena García' to doc_garcia over the other Garcia", () => assert.equal(u('doctora Elena García').doctorId, 'doc_garcia'));
    it("leaves 'Dr. Garcia' unmatched when two doctors share the name", () => assert.equal(u('Dr. Garcia').doctorId, undefined));
  });

  describe('a reschedule naming two days: the first is the appointment\'s, the second the new one', () => {
    const cases: [string, string, string, string | undefined][] = [
      ['move my Monday appointment to Tuesday at 12', '2026-03-16', '2026-03-17', '12:00'],
      ['pasar mi cita del lunes al martes', '2026-03-16', '2026-03-17', undefined],
      ['canviar la cita de dijous a divendres a les 10', '2026-03-12', '2026-03-13', '10:00'],
      ['somvar wali appointment mangalvar ko badal do', '2026-03-16', '2026-03-17', undefined],
    ];
    for (const [text, fromDate, date, time] of cases) {
      it(`'${text}': from ${fromDate} to ${date}${time ? ` at ${time}` : ''}`, () => {
        const r = u(text);
        assert.equal(r.intent, 'reschedule');
        assert.deepEqual([r.fromDate, r.date, r.time], [fromDate, date, time]);
      });
    }
    it('one day is the new day', () => assert.deepEqual([u('move my appointment to Friday').fromDate, u('move my appointment to Friday').date], [undefined, '2026-03-13']));
    it("'change my phone number' and 'change doctor' are not reschedules", () => {
      assert.notEqual(u('can I change my phone number?').intent, 'reschedule');
      assert.notEqual(u('I want to change doctor').intent, 'reschedule');
    });
  });

  it('parses a full booking request in one message', () => {
    const r = u('quiero una cita con el cardiólogo mañana por la tarde a las 5');
    assert.deepEqual(r, { intent: 'book', language: 'es', date: '2026-03-11', partOfDay: 'afternoon', time: '17:00', specialization: 'Cardiology' });
  });

  it('implements the Understander interface asynchronously', async () => {
    const r = await new RulesUnderstander().understand('kal subah', CTX);
    assert.equal(r.date, '2026-03-11');
    assert.equal(r.partOfDay, 'morning');
  });

  it('remembers a short reply per clinic and day, hands out copies, and reads it anew on another day', async () => {
    const rules = new RulesUnderstander();
    const first = await rules.understand('mañana', CTX);
    first.date = 'changed by a caller';
    assert.equal((await rules.understand('mañana', CTX)).date, '2026-03-11');
    const nextDay = { ...CTX, now: new Date(CTX.now.getTime() + 24 * 3600_000) };
    assert.equal((await rules.understand('mañana', nextDay)).date, '2026-03-12');
    // Same words, another clinic's doctors: read with that clinic's names.
    const other = { ...CTX, doctors: [{ id: 'doc_x', name: 'Marta Vidal', specialization: 'Cardiology' }] };
    assert.equal((await rules.understand('Dr. Vidal', other)).doctorId, 'doc_x');
    assert.equal((await rules.understand('Dr. Vidal', CTX)).doctorId, undefined);
  });
});
