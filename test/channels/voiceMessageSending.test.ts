/**
 * Voice messages (POST /messages/voice) as the provider adapters send them:
 * each test sends one OutboundMessage with `media` through an adapter and
 * checks what reached the fake provider on the wire.
 */
import assert from 'node:assert/strict';
import { WhatsAppCloudAdapter } from '../../channels/whatsapp/adapter.js';
import { TelegramAdapter } from '../../channels/telegram/adapter.js';
import { TwilioSmsAdapter, SMS_STATUS_PATH } from '../../channels/sms/adapter.js';
import { ProviderRefusedError, type AudioFormat, type ChannelName, type OutboundMessage } from '../../channels/types.js';
import { createLogger } from '../../lib/logger.js';
import { testConfig } from '../support/service.js';
import { FakeWhatsApp, whatsappEnv } from '../support/fakeWhatsApp.js';
import { FakeTelegram, FAKE_TELEGRAM_SECRET, newBotToken } from '../support/fakeTelegram.js';
import { FakeTwilio, FAKE_FROM_NUMBER, FAKE_PUBLIC_URL, twilioEnv } from '../support/fakeTwilio.js';

const MIME: Record<AudioFormat, string> = { mp3: 'audio/mpeg', ogg: 'audio/ogg', wav: 'audio/wav' };
const mediaUrl = (format: AudioFormat) => `${FAKE_PUBLIC_URL}/media/msg_voice/tok3n.${format}`;

/** A staff voice message of `format` to `to`, with `text` as its caption ('' for none). */
function voice(channel: ChannelName, to: string, format: AudioFormat, text = '', url = mediaUrl(format)): OutboundMessage {
  return {
    id: 'msg_voice', organizationId: 'org_test', channel, to, text, options: null, conversationId: null, sender: 'staff', createdAt: new Date(),
    media: { kind: 'audio', url, format, mimeType: MIME[format], durationSeconds: 12, fileName: `voice-message.${format}` },
  };
}

/** The Bot API calls that send something (everything but getMe and the webhook calls). */
const sendCalls = (fake: FakeTelegram, token: string) => fake.calls.filter((c) => c.token === token && c.method.startsWith('send'));

describe('Voice messages on the provider channels', function () {
  this.timeout(30_000);
  const logger = createLogger('silent');
  let wa: FakeWhatsApp;
  let tg: FakeTelegram;
  let tw: FakeTwilio;

  before(async () => {
    [wa, tg, tw] = await Promise.all([new FakeWhatsApp().start(), new FakeTelegram().start(), new FakeTwilio().start()]);
  });
  afterEach(() => {
    wa.ok();
    tg.reset();
    tw.ok();
  });
  after(async () => {
    await Promise.all([wa.stop(), tg.stop(), tw.stop()]);
  });

  const whatsapp = (templateFor?: ConstructorParameters<typeof WhatsAppCloudAdapter>[0]['templateFor']) =>
    new WhatsAppCloudAdapter({ config: testConfig(whatsappEnv(wa)), logger, templateFor });
  const telegram = (token: string) => new TelegramAdapter({
    config: testConfig({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: tg.url, TELEGRAM_WEBHOOK_SECRET: FAKE_TELEGRAM_SECRET, PUBLIC_URL: FAKE_PUBLIC_URL }),
    logger,
  });
  const sms = () => new TwilioSmsAdapter({ config: testConfig(twilioEnv(tw)), logger });

  it('sms, WhatsApp and Telegram say they can carry audio', () => {
    for (const adapter of [whatsapp(), telegram(newBotToken()), sms()]) assert.equal(adapter.capabilities.media, true, adapter.name);
  });

  describe('WhatsApp (Cloud API)', () => {
    it('the WhatsApp adapter sends an MP3 as an audio message by link', async () => {
      const res = await whatsapp().send(voice('whatsapp', '+34600000101', 'mp3'));
      const [sent] = wa.to('+34600000101');
      assert.equal(wa.to('+34600000101').length, 1);
      assert.deepEqual(sent!.raw, {
        messaging_product: 'whatsapp', recipient_type: 'individual', to: '34600000101', type: 'audio', audio: { link: mediaUrl('mp3') },
      });
      assert.equal(res.providerMessageId, sent!.id);
    });

    it('the WhatsApp adapter sends an OGG as an audio message too, without the caption audio cannot carry', async () => {
      await whatsapp().send(voice('whatsapp', '+34600000102', 'ogg', 'Your results'));
      const [sent] = wa.to('+34600000102');
      assert.deepEqual(sent!.raw, {
        messaging_product: 'whatsapp', recipient_type: 'individual', to: '34600000102', type: 'audio', audio: { link: mediaUrl('ogg') },
      });
    });

    it('the WhatsApp adapter sends a WAV as a document with its file name', async () => {
      const adapter = whatsapp();
      await adapter.send(voice('whatsapp', '+34600000103', 'wav'));
      await adapter.send(voice('whatsapp', '+34600000103', 'wav', '  Your results  '));
      const [plain, captioned] = wa.to('+34600000103');
      assert.deepEqual(plain!.raw, {
        messaging_product: 'whatsapp', recipient_type: 'individual', to: '34600000103', type: 'document',
        document: { link: mediaUrl('wav'), filename: 'voice-message.wav' },
      });
      assert.deepEqual(captioned!.raw.document, { link: mediaUrl('wav'), filename: 'voice-message.wav', caption: 'Your results' });
    });

    it('WhatsApp does not send a closed-window voice message as a text template', async () => {
      let templateAsked = 0;
      const adapter = whatsapp(async () => {
        templateAsked++;
        return { name: 'clinic_update', language: 'es' };
      });
      wa.outsideWindow('+34600000104');
      const before = wa.requests;
      await assert.rejects(adapter.send(voice('whatsapp', '+34600000104', 'mp3')), (err: unknown) =>
        err instanceof ProviderRefusedError && err.code === '131047' && !err.retryable && /24-hour window/.test(err.message) && /voice message/.test(err.message));
      assert.equal(wa.requests - before, 1, 'one attempt, no template after it');
      assert.equal(wa.to('+34600000104').length, 0);
      assert.equal(templateAsked, 0);
      // A text message to the same patient still goes as the template.
      const text = { ...voice('whatsapp', '+34600000104', 'mp3', 'Hola'), media: null };
      await adapter.send(text);
      assert.equal(wa.to('+34600000104')[0]!.type, 'template');
    });
  });

  describe('Telegram (Bot API)', () => {
    it('Telegram sends an OGG as a voice message', async () => {
      const token = newBotToken();
      const res = await telegram(token).send(voice('telegram', '4242', 'ogg'));
      const calls = sendCalls(tg, token);
      assert.deepEqual(calls.map((c) => c.method), ['sendVoice']);
      assert.deepEqual(calls[0]!.payload, { chat_id: '4242', voice: mediaUrl('ogg'), duration: 12 });
      const [sent] = tg.to(4242).filter((m) => m.token === token);
      assert.equal(res.providerMessageId, `4242:${sent!.messageId}`);
    });

    it('Telegram sends an MP3 as audio', async () => {
      const token = newBotToken();
      const res = await telegram(token).send(voice('telegram', '4243', 'mp3', 'Your results'));
      const calls = sendCalls(tg, token);
      assert.deepEqual(calls.map((c) => c.method), ['sendAudio']);
      assert.deepEqual(calls[0]!.payload, { chat_id: '4243', audio: mediaUrl('mp3'), caption: 'Your results', duration: 12 });
      const [sent] = tg.to(4243).filter((m) => m.token === token);
      assert.equal(res.providerMessageId, `4243:${sent!.messageId}`);
    });

    it('Telegram refuses a WAV without a call (it fetches files by URL only as GIF, PDF or ZIP)', async () => {
      const token = newBotToken();
      await assert.rejects(telegram(token).send(voice('telegram', '4244', 'wav')), (err: unknown) =>
        err instanceof ProviderRefusedError && err.code === 'media_format_not_supported' && !err.retryable);
      assert.deepEqual(sendCalls(tg, token), []);
    });

    it('Telegram maps a refused voice message like a text: 403 final, 429 retryable after retry_after', async () => {
      const adapter = telegram(newBotToken());
      tg.failNext({ kind: 'refuse', errorCode: 403, description: 'Forbidden: bot was blocked by the user' });
      await assert.rejects(adapter.send(voice('telegram', '4245', 'ogg')), (err: unknown) =>
        err instanceof ProviderRefusedError && err.code === 'telegram_403' && !err.retryable);
      tg.failNext({ kind: 'refuse', errorCode: 429, description: 'Too Many Requests: retry after 3', retryAfter: 3 });
      await assert.rejects(adapter.send(voice('telegram', '4245', 'mp3')), (err: unknown) =>
        err instanceof ProviderRefusedError && err.code === 'telegram_429' && err.retryable && err.retryAfterMs === 3000);
    });
  });

  describe('Twilio (SMS)', () => {
    it('Twilio sends the audio as MediaUrl without a Body', async () => {
      const res = await sms().send(voice('sms', '+34600000105', 'mp3'));
      const [sent] = tw.to('+34600000105');
      assert.equal(tw.to('+34600000105').length, 1);
      assert.deepEqual(sent!.fields, ['From', 'MediaUrl', 'StatusCallback', 'To']);
      assert.deepEqual(sent!.mediaUrls, [mediaUrl('mp3')]);
      assert.equal(sent!.from, FAKE_FROM_NUMBER);
      assert.equal(sent!.statusCallback, `${FAKE_PUBLIC_URL}${SMS_STATUS_PATH}`);
      assert.equal(res.providerMessageId, sent!.sid);
    });

    it('Twilio sends a caption as the Body beside the MediaUrl', async () => {
      await sms().send(voice('sms', '+34600000106', 'wav', 'Your results'));
      const [sent] = tw.to('+34600000106');
      assert.deepEqual(sent!.fields, ['Body', 'From', 'MediaUrl', 'StatusCallback', 'To']);
      assert.equal(sent!.body, 'Your results');
      assert.deepEqual(sent!.mediaUrls, [mediaUrl('wav')]);
    });
  });

  it('a relative media URL is refused without a provider call', async () => {
    const token = newBotToken();
    const relative = (channel: ChannelName, to: string) => voice(channel, to, 'mp3', '', '/media/msg_voice/tok3n');
    const refused = (err: unknown) => err instanceof ProviderRefusedError && err.code === 'media_url_not_public' && !err.retryable && /PUBLIC_URL/.test(err.message);
    const before = { wa: wa.requests, tw: tw.requests };
    await assert.rejects(whatsapp().send(relative('whatsapp', '+34600000107')), refused);
    await assert.rejects(telegram(token).send(relative('telegram', '4246')), refused);
    await assert.rejects(sms().send(relative('sms', '+34600000107')), refused);
    assert.equal(wa.requests, before.wa);
    assert.equal(tw.requests, before.tw);
    assert.deepEqual(sendCalls(tg, token), []);
  });
});
