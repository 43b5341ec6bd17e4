import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaFetchError, type MediaFetchReason } from '../../channels/types.js';
import { WhatsAppCloudAdapter } from '../../channels/whatsapp/adapter.js';
import { TelegramAdapter } from '../../channels/telegram/adapter.js';
import { TwilioSmsAdapter } from '../../channels/sms/adapter.js';
import { onTwilioApi } from '../../channels/sms/media.js';
import { createLogger } from '../../lib/logger.js';
import { testConfig } from '../support/service.js';
import { FAKE_WA_TOKEN, FakeWhatsApp, whatsappEnv } from '../support/fakeWhatsApp.js';
import { FakeTelegram, newBotToken } from '../support/fakeTelegram.js';
import { FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, FakeTwilio, closedPortUrl, twilioEnv } from '../support/fakeTwilio.js';

const logger = createLogger('silent');
const limits = (maxBytes = 1024 * 1024, timeoutMs = 5_000) => ({ maxBytes, timeoutMs });
/** Random bytes standing in for an OGG/Opus voice note. */
const voiceNote = (size = 12_345) => Buffer.concat([Buffer.from('OggS'), randomBytes(size - 4)]);
const TWILIO_BASIC = `Basic ${Buffer.from(`${FAKE_ACCOUNT_SID}:${FAKE_AUTH_TOKEN}`).toString('base64')}`;

/** Asserts `promise` rejects with a MediaFetchError of `reason` (and a message matching `message`). */
async function rejectsWith(promise: Promise<unknown>, reason: MediaFetchReason, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof MediaFetchError, `a MediaFetchError, not ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('Inbound media fetch (voice notes from WhatsApp, Telegram and SMS)', function () {
  this.timeout(20_000);
  let wa: FakeWhatsApp;
  let tg: FakeTelegram;
  let twilio: FakeTwilio;

  before(async () => {
    [wa, tg, twilio] = await Promise.all([new FakeWhatsApp().start(), new FakeTelegram().start(), new FakeTwilio().start()]);
  });
  after(async () => {
    await Promise.all([wa.stop(), tg.stop(), twilio.stop()]);
  });

  const whatsapp = (extra: Record<string, string> = {}) => new WhatsAppCloudAdapter({ config: testConfig(whatsappEnv(wa, extra)), logger });
  const telegram = (token = newBotToken()) => new TelegramAdapter({ config: testConfig({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: tg.url }), logger });
  const sms = (extra: Record<string, string> = {}) => new TwilioSmsAdapter({ config: testConfig(twilioEnv(twilio, extra)), logger });

  describe('WhatsApp', () => {
    it('WhatsApp fetches a voice note by its media id with the access token', async () => {
      const bytes = voiceNote();
      const { id } = wa.addMedia(bytes, 'audio/ogg; codecs=opus');
      const before = wa.mediaRequests.length;
      const got = await whatsapp().fetchMedia({ url: `whatsapp-media:${id}`, contentType: 'audio/ogg; codecs=opus' }, limits());
      assert.ok(got.bytes.equals(bytes), 'the bytes the fake holds');
      assert.equal(got.contentType, 'audio/ogg; codecs=opus');
      const [meta, download, ...more] = wa.mediaRequests.slice(before);
      assert.equal(more.length, 0);
      assert.equal(meta!.path, `/v21.0/${id}`);
      assert.match(download!.path, new RegExp(`^/whatsapp_business/attachments/\\?mid=${id}&`));
      assert.deepEqual([meta!.authorization, download!.authorization], [`Bearer ${FAKE_WA_TOKEN}`, `Bearer ${FAKE_WA_TOKEN}`]);
    });

    it('WhatsApp refuses a file larger than maxBytes without downloading it', async () => {
      const { id } = wa.addMedia(voiceNote(4096), 'audio/ogg; codecs=opus');
      const before = wa.mediaRequests.length;
      await rejectsWith(whatsapp().fetchMedia({ url: `whatsapp-media:${id}`, contentType: 'audio/ogg' }, limits(1024)), 'too_large', /larger than 1024 bytes \(4096\)/);
      assert.deepEqual(wa.mediaRequests.slice(before).map((r) => r.path), [`/v21.0/${id}`], 'only the metadata was asked for');
    });

    it('WhatsApp stops reading a body that passes maxBytes though file_size said it was small', async () => {
      const big = wa.addMedia(voiceNote(4 * 1024 * 1024), 'audio/ogg', { declaredSize: 1000, chunked: true });
      await rejectsWith(whatsapp().fetchMedia({ url: `whatsapp-media:${big.id}`, contentType: 'audio/ogg' }, limits(64 * 1024)), 'too_large');
      await sleep(500);
      assert.equal(wa.media.get(big.id)!.servedWhole, 0, 'the download was cut off, not read to its end');
      // With a Content-Length, the answer is refused before its body is read.
      const declared = wa.addMedia(voiceNote(200_000), 'audio/ogg', { declaredSize: 1000 });
      await rejectsWith(whatsapp().fetchMedia({ url: `whatsapp-media:${declared.id}`, contentType: 'audio/ogg' }, limits(64 * 1024)), 'too_large', /\(200000\)/);
    });

    it('WhatsApp fetches only whatsapp-media: urls', async () => {
      const before = wa.mediaRequests.length;
      for (const url of ['telegram-file:AwACAgQ', `${wa.url}/whatsapp_business/attachments/?mid=1`, 'whatsapp-media:']) {
        await rejectsWith(whatsapp().fetchMedia({ url, contentType: 'audio/ogg' }, limits()), 'not_ours');
      }
      assert.equal(wa.mediaRequests.length, before, 'nothing reached the Graph API');
    });
  });

  describe('Telegram', () => {
    it('Telegram fetches a voice note through getFile', async () => {
      const token = newBotToken();
      const bytes = voiceNote();
      const { fileId, filePath } = tg.addMedia(bytes, 'audio/ogg');
      const got = await telegram(token).fetchMedia({ url: `telegram-file:${fileId}`, contentType: 'audio/ogg' }, limits());
      assert.ok(got.bytes.equals(bytes), 'the bytes the fake holds');
      // The file server answers application/octet-stream: the update's own type is kept.
      assert.equal(got.contentType, 'audio/ogg');
      assert.deepEqual(tg.callsOf('getFile', token).map((c) => c.payload.file_id), [fileId]);
      assert.equal(filePath.startsWith('voice/'), true);
      const download = tg.fileRequests.filter((r) => r.path.includes(filePath));
      assert.deepEqual(download.map((r) => r.path), [`/file/bot${token}/${filePath}`]);
      assert.equal(download[0]!.authorization, null, 'the token is in the path, not a header');
    });

    it('Telegram fetches an audio file (audio/mpeg) the same way', async () => {
      const bytes = randomBytes(3000);
      const { fileId, filePath } = tg.addMedia(bytes, 'audio/mpeg');
      const got = await telegram().fetchMedia({ url: `telegram-file:${fileId}`, contentType: 'audio/mpeg' }, limits());
      assert.ok(got.bytes.equals(bytes));
      assert.equal(got.contentType, 'audio/mpeg');
      assert.match(filePath, /^music\/.+\.mp3$/);
    });

    it('Telegram refuses a file larger than maxBytes without downloading it', async () => {
      const before = tg.fileRequests.length;
      const { fileId } = tg.addMedia(voiceNote(4096), 'audio/ogg');
      await rejectsWith(telegram().fetchMedia({ url: `telegram-file:${fileId}`, contentType: 'audio/ogg' }, limits(1024)), 'too_large', /\(4096\)/);
      // Past the 20 MB a bot may download, getFile itself refuses.
      const huge = tg.addMedia(voiceNote(100), 'audio/ogg', { declaredSize: 25 * 1024 * 1024 });
      await rejectsWith(telegram().fetchMedia({ url: `telegram-file:${huge.fileId}`, contentType: 'audio/ogg' }, limits(50 * 1024 * 1024)), 'too_large');
      assert.equal(tg.fileRequests.length, before, 'no download was attempted');
    });
  });

  describe('Twilio (MMS)', () => {
    it('Twilio fetches an MMS media with Basic auth and follows the redirect without the credentials', async () => {
      const bytes = voiceNote();
      const { url } = twilio.addMedia(bytes, 'audio/ogg');
      const before = twilio.mediaRequests.length;
      const got = await sms().fetchMedia({ url, contentType: 'audio/ogg' }, limits());
      assert.ok(got.bytes.equals(bytes), 'the bytes the fake holds');
      assert.equal(got.contentType, 'audio/ogg');
      const [media, storage, ...more] = twilio.mediaRequests.slice(before);
      assert.equal(more.length, 0);
      assert.equal(media!.path, new URL(url).pathname);
      assert.equal(media!.authorization, TWILIO_BASIC);
      assert.match(storage!.path, /^\/media-storage\/[0-9a-f]+\?X-Amz-Expires=/);
      assert.equal(storage!.authorization, null, 'the credentials stay with the Twilio API');
    });

    it('Twilio on a regional API base still takes MediaUrls on api.twilio.com, and nothing that only looks like it', () => {
      const bases = ['https://api.dublin.ie1.twilio.com', 'https://api.twilio.com'];
      const media = `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Messages/MM1/Media/ME1`;
      for (const url of [`https://api.twilio.com${media}`, `https://api.dublin.ie1.twilio.com${media}`]) assert.equal(onTwilioApi(url, bases), url);
      for (const url of [`https://api.twilio.com.attacker.example${media}`, `http://api.twilio.com${media}`, `https://user:pw@api.twilio.com${media}`, `https://api.sydney.au1.twilio.com${media}`]) {
        assert.throws(() => onTwilioApi(url, bases), (err: unknown) => err instanceof MediaFetchError && err.reason === 'not_ours', url);
      }
    });

    it('Twilio refuses a MediaUrl outside its API host', async () => {
      const other = await new FakeTwilio().start();
      try {
        const elsewhere = other.addMedia(voiceNote(), 'audio/ogg').url;
        const path = new URL(elsewhere).pathname;
        const forged = [elsewhere, `https://attacker.example${path}`, `http://localhost:${new URL(twilio.url).port}${path}`, 'whatsapp-media:123', 'not a url'];
        for (const url of forged) await rejectsWith(sms().fetchMedia({ url, contentType: 'audio/ogg' }, limits()), 'not_ours');
        assert.equal(other.mediaRequests.length, 0, 'nothing was sent to the other host');
      } finally {
        await other.stop();
      }
    });
  });

  describe('failures', () => {
    it('a provider error rejects with MediaFetchError on every channel (unknown file, rejected credentials)', async () => {
      await rejectsWith(whatsapp().fetchMedia({ url: 'whatsapp-media:999999999', contentType: 'audio/ogg' }, limits()), 'refused', /400: \(100\)/);
      const { id } = wa.addMedia(voiceNote(), 'audio/ogg');
      const before = wa.mediaRequests.length;
      await rejectsWith(whatsapp({ WHATSAPP_ACCESS_TOKEN: 'EAAexpired' }).fetchMedia({ url: `whatsapp-media:${id}`, contentType: 'audio/ogg' }, limits()), 'refused', /401: \(190\)/);
      assert.deepEqual(wa.mediaRequests.slice(before).map((r) => r.authorization), ['Bearer EAAexpired']);

      await rejectsWith(telegram().fetchMedia({ url: 'telegram-file:AwACAgQAAxkBAAIunknown', contentType: 'audio/ogg' }, limits()), 'refused', /invalid file_id/);
      await rejectsWith(telegram().fetchMedia({ url: `${tg.url}/file/bot1:x/voice/file_1.oga`, contentType: 'audio/ogg' }, limits()), 'not_ours');

      const missing = `${twilio.url}/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Messages/MM0/Media/ME0`;
      await rejectsWith(sms().fetchMedia({ url: missing, contentType: 'audio/ogg' }, limits()), 'refused', /404/);
      const { url } = twilio.addMedia(voiceNote(), 'audio/ogg');
      await rejectsWith(sms({ TWILIO_AUTH_TOKEN: 'wrong-token' }).fetchMedia({ url, contentType: 'audio/ogg' }, limits()), 'refused', /401/);
    });

    it('a timeout or an unreachable provider rejects with MediaFetchError on every channel', async () => {
      const slow = { delayMs: 3_000 };
      const started = Date.now();
      const wa1 = wa.addMedia(voiceNote(), 'audio/ogg', slow);
      const tg1 = tg.addMedia(voiceNote(), 'audio/ogg', slow);
      const tw1 = twilio.addMedia(voiceNote(), 'audio/ogg', slow);
      await Promise.all([
        rejectsWith(whatsapp().fetchMedia({ url: `whatsapp-media:${wa1.id}`, contentType: 'audio/ogg' }, limits(1024 * 1024, 300)), 'unreachable', /within 300 ms/),
        rejectsWith(telegram().fetchMedia({ url: `telegram-file:${tg1.fileId}`, contentType: 'audio/ogg' }, limits(1024 * 1024, 300)), 'unreachable', /within 300 ms/),
        rejectsWith(sms().fetchMedia({ url: tw1.url, contentType: 'audio/ogg' }, limits(1024 * 1024, 300)), 'unreachable', /within 300 ms/),
      ]);
      assert.ok(Date.now() - started < 2_000, 'gave up at the deadline, not when the fake answered');

      const nowhere = await closedPortUrl();
      const offline = new TwilioSmsAdapter({ config: testConfig(twilioEnv(twilio, { TWILIO_API_BASE_URL: nowhere })), logger });
      await rejectsWith(offline.fetchMedia({ url: `${nowhere}/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Messages/MM1/Media/ME1`, contentType: 'audio/ogg' }, limits()), 'unreachable', /ECONNREFUSED/);
      const offlineTg = new TelegramAdapter({ config: testConfig({ TELEGRAM_BOT_TOKEN: newBotToken(), TELEGRAM_API_ROOT: nowhere }), logger });
      await rejectsWith(offlineTg.fetchMedia({ url: 'telegram-file:AwACAgQ', contentType: 'audio/ogg' }, limits()), 'unreachable');
    });
  });
});
