import assert from 'node:assert/strict';
import { CATALOGS, REPLY_KEYS, render, renderText } from '../../bot/catalog/index.js';
import { LANGS } from '../../bot/understanding/types.js';

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
}

describe('bot/catalog', () => {
  for (const lang of LANGS) {
    it(`${lang} has every key and no extra one`, () => {
      assert.deepEqual(Object.keys(CATALOGS[lang]).sort(), [...REPLY_KEYS].sort());
    });
    it(`${lang} uses the same placeholders as English in every reply`, () => {
      for (const key of REPLY_KEYS) assert.deepEqual(placeholders(CATALOGS[lang][key]), placeholders(CATALOGS.en[key]), `${lang}.${key}`);
    });
  }

  it('writes Hindi in Devanagari', () => {
    for (const key of REPLY_KEYS) assert.match(CATALOGS.hi[key], /[\u0900-\u097f]/, `hi.${key}`);
  });

  it('tells the emergency number and that the bot gives no medical advice, in every language', () => {
    for (const lang of LANGS) assert.match(render(lang, 'emergency', { emergency_number: '112' }), /112/);
  });

  it('fills placeholders', () => {
    assert.equal(render('es', 'nice_to_meet', { name: 'Ana' }), 'Gracias, Ana.');
  });

  it('drops a line whose placeholders are empty (no clinic address)', () => {
    const text = render('en', 'booked', { date_time: 'Tue 10 Mar 10:00', doctor: 'Dr. García', location: '' });
    assert.equal(text, 'Done! Your appointment is booked:\nTue 10 Mar 10:00 with Dr. García\nWe will send you a reminder.');
  });

  it('leaves a missing placeholder visible so tests catch it', () => {
    assert.match(render('en', 'nice_to_meet'), /\{name\}/);
  });

  it('renders numbered options under the text for channels without buttons', () => {
    const text = renderText('ca', { key: 'menu', options: [{ value: '1', label: 'Demanar cita' }, { value: '2', label: 'Les meves cites' }] });
    assert.equal(text, 'Què vols fer?\n1. Demanar cita\n2. Les meves cites');
  });
});
