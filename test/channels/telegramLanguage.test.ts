import assert from 'node:assert/strict';
import { findOrCreateOpenConversation } from '../../models/conversations.js';
import { buildPatient } from '../support/factories.js';
import { NOW } from '../bot/engineSupport.js';
import { newTelegramUser } from '../support/fakeTelegram.js';
import { telegramHarness } from '../support/telegramHarness.js';

describe('Telegram: a new chat speaks its app language (from.language_code)', function () {
  this.timeout(30_000);
  const { startTelegram, say } = telegramHarness();

  const welcome = { en: /^Hello! I can help/, es: /^¡Hola! Puedo ayudarte/, ca: /^Hola! Et puc ajudar/, hi: /^नमस्ते! मैं आपकी/ };
  // A clinic whose default is Spanish: English from "en-GB" is the app's language, and "de" falls back to Spanish.
  const firstReply = [
    { code: 'es', text: '/start', lang: 'es', clinic: 'en' },
    { code: 'ca', text: 'hi', lang: 'ca', clinic: 'en' },
    { code: 'hi', text: '1', lang: 'hi', clinic: 'en' },
    { code: 'en-GB', text: '/start', lang: 'en', clinic: 'es' },
    { code: 'de', text: '/start', lang: 'es', clinic: 'es' },
  ] as const;
  const expected = { ...welcome, ask_name: { en: /^Before we go on/, es: /^Antes de seguir/, ca: /^Abans de continuar/, hi: /^आगे बढ़ने से पहले/ } };
  for (const { code, text, lang, clinic: clinicLang } of firstReply) {
    const outcome = code === 'de' ? 'falls back to the clinic\'s default for a language the bot does not speak' : 'answers in its app\'s language';
    it(`${outcome}: a new chat's language-neutral "${text}" (language_code ${code})`, async () => {
      const { svc, clinic } = await startTelegram({ default_language: clinicLang });
      const user = newTelegramUser({ language_code: code });
      const [reply] = await say(svc, user, text);
      assert.match(reply!.text, text === '1' ? expected.ask_name[lang] : expected[lang]);
      const conv = await svc.deps.db.knex('conversations').where({ organization_id: clinic.org.id, channel: 'telegram', channel_address: String(user.id) }).first();
      assert.equal(conv.language, lang);
    });
  }

  it('breaks a tie of the words with it ("hola" is Catalan too), and the words win over it', async () => {
    const { svc } = await startTelegram();
    const catalan = newTelegramUser({ language_code: 'ca' });
    const [hola] = await say(svc, catalan, 'hola');
    assert.match(hola!.text, welcome.ca);
    const english = newTelegramUser({ language_code: 'en' });
    const [cita] = await say(svc, english, 'hola, quiero pedir una cita');
    assert.match(cita!.text, /nombre completo/, 'Spanish words get a Spanish reply');
  });

  it('leaves a known patient in their own language', async () => {
    const { svc, clinic } = await startTelegram();
    const user = newTelegramUser({ language_code: 'es' });
    const patient = await buildPatient(clinic, { name: 'Anna Roca', preferred_language: 'ca' });
    await findOrCreateOpenConversation(svc.deps.db.knex, { organizationId: clinic.org.id },
      { channel: 'telegram', address: String(user.id), patientId: patient.id, idleMinutes: 60, now: NOW });
    const [reply] = await say(svc, user, '/start');
    assert.match(reply!.text, welcome.ca);
  });
});
