/**
 * Voice messages in the widget, in headless Chromium. The widget is embedded in
 * a page of another origin (a server this test starts), so a `/media/...` path
 * must resolve against the CareChat service the widget came from, not the page.
 * That server also answers a real one-second WAV, which the browser must load.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator } from 'playwright-core';
import { createOrganization } from '../../models/organizations.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { outboundMediaOf, type StoredMedia } from '../../channels/outboundMedia.js';
import type { RunningService } from '../../main.js';
import { readFileSync } from 'node:fs';
import { createPatient, type PatientInput } from '../../models/patients.js';
import { setConversationPatient } from '../../models/conversations.js';
import { createTestUser } from '../support/factories.js';
import { startWebchatService, stopWebchatServices, toOutbound } from '../support/webchat.js';
import { launchBrowser, newPage, openWidget, waitForConnection, type WidgetHandle } from '../support/browser.js';

/** A mono 16-bit PCM WAV of silence: the 44-byte RIFF header, then the samples. */
function silentWav(seconds: number, sampleRate = 8000): Buffer {
  const data = seconds * sampleRate * 2;
  const wav = Buffer.alloc(44 + data);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + data, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // channels
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28); // bytes per second
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(data, 40);
  return wav;
}

/** The host page (another origin, embedding the widget from the service) and the WAV; counts the WAV's requests. */
async function startHostServer(serviceUrl: string): Promise<{ url: string; wavRequests: () => number; close: () => Promise<void> }> {
  const wav = silentWav(1);
  let wavRequests = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://host');
    if (url.pathname === '/one-second.wav') {
      wavRequests++;
      res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wav.length });
      return res.end(wav);
    }
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      return res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Another clinic site</title></head><body><h1>Clinic</h1>
        <script src="${serviceUrl}/widget/carechat.js" data-org="${url.searchParams.get('org') ?? ''}" async></script></body></html>`);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    wavRequests: () => wavRequests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function media(url: string, durationSeconds: number | null): StoredMedia {
  return { id: 'med_01BROWSERVOICE', url, format: 'wav', mime_type: 'audio/wav', duration_seconds: durationSeconds, size_bytes: 16_044, file_name: 'voice-message.wav' };
}

describe('web chat widget: voice messages in headless Chromium', function () {
  this.timeout(60_000);
  let svc: RunningService;
  let browser: Browser;
  let host: Awaited<ReturnType<typeof startHostServer>>;
  const contexts: BrowserContext[] = [];

  before(async () => {
    svc = await startWebchatService();
    browser = await launchBrowser();
    host = await startHostServer(svc.url);
  });
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
  });
  after(async () => {
    await browser?.close();
    await host?.close();
    await stopWebchatServices();
  });

  /** A page allowed to reach the service and the host server, with the widget open and online. */
  const openOnHostPage = async (viewport?: { width: number; height: number }) => {
    const org = await createOrganization(svc.deps.db.knex, { name: 'Voice Clinic', timeZone: 'UTC' });
    const opened = await newPage(browser, svc.url, viewport);
    contexts.push(opened.page.context());
    // Page routes come before newPage's context route, which would abort the host server's origin.
    await opened.page.route(`${host.url}/**`, (route) => route.continue());
    const w = await openWidget(opened.page, `${host.url}/?org=${org.id}`);
    return { ...opened, org, w };
  };

  /** Stores a voice message (as sent: the service's dispatcher must not send it) and pushes it as the dispatcher would. */
  const sendVoice = async (orgId: string, stored: StoredMedia, caption = '') => {
    const knex = svc.deps.db.knex;
    const conv = await knex('conversations').where({ organization_id: orgId, channel: 'webchat' }).first('id', 'channel_address');
    const row = await knex.transaction(async (trx) => {
      const queued = await queueOutboundMessage(trx, { organizationId: orgId }, {
        conversationId: conv.id, channel: 'webchat', to: conv.channel_address, contentType: 'voice', text: stored.url, sender: 'staff', metadata: { media: stored },
      });
      await trx('messages').where({ id: queued.id }).update({ status: 'sent' });
      return queued;
    });
    await svc.webchat.send({ ...toOutbound(row), text: caption, media: outboundMediaOf(row.metadata) });
    return row;
  };

  const voiceBubble = (w: WidgetHandle, id: string): Locator => w.log.locator(`.cc-msg-staff[data-message-id="${id}"]`);

  it('shows an <audio> whose path resolves against the service, not the host page, and loads a real WAV', async () => {
    const { page, org, w, foreignRequests, pageErrors } = await openOnHostPage();
    const byPath = await sendVoice(org.id, media('/media/med_01BROWSERVOICE/tok_path.wav', 75));
    const player = voiceBubble(w, byPath.id).locator('audio');
    await player.waitFor();
    assert.equal(await player.evaluate((a: HTMLAudioElement) => a.src), `${svc.url}/media/med_01BROWSERVOICE/tok_path.wav`);
    assert.deepEqual(await attributes(player), { controls: '', preload: 'none', 'aria-label': 'Voice message, 1:15' });
    // The player reads 0:00 until played: the length is written beside it, for eyes only (the label says it to screen readers).
    const length = voiceBubble(w, byPath.id).locator('.cc-duration');
    assert.equal(await length.textContent(), 'Voice message, 1:15');
    assert.equal(await length.getAttribute('aria-hidden'), 'true');
    assert.ok(await length.isVisible());

    const absolute = await sendVoice(org.id, media(`${host.url}/one-second.wav`, 1), 'Please listen before your visit.');
    const bubble = voiceBubble(w, absolute.id);
    await bubble.locator('audio').waitFor();
    assert.equal(await bubble.locator('.cc-caption').textContent(), 'Please listen before your visit.');
    assert.equal(await bubble.locator('audio').getAttribute('aria-label'), 'Voice message, 0:01');
    assert.equal(host.wavRequests(), 0, 'preload="none": nothing is fetched before play');
    const loaded = await loadMetadata(bubble.locator('audio'));
    assert.ok(loaded.canPlay !== '', 'Chromium plays audio/wav');
    assert.ok(Math.abs(loaded.duration - 1) < 0.05, `duration ${loaded.duration} ≈ 1 s`);
    assert.ok(host.wavRequests() > 0);
    assert.deepEqual(foreignRequests, [], 'only the service and the host page are reached');
    assert.deepEqual(pageErrors, []);
    await page.screenshot({ path: '/tmp/widget-voice.png' });
  });

  it('a voice message staff send with POST /messages/voice plays in the open widget, loaded from GET /media of the service', async () => {
    const { org, w, pageErrors } = await openOnHostPage();
    const knex = svc.deps.db.knex;
    const conv = await knex('conversations').where({ organization_id: org.id, channel: 'webchat' }).first('id');
    const patient = await createPatient(knex, { organizationId: org.id }, { name: 'Ana López', phone: '+34611222333', preferred_language: 'en' } as PatientInput & { name: string });
    await setConversationPatient(knex, { organizationId: org.id }, conv.id, patient.id);
    const staff = await createTestUser(svc, org.id, 'admin');
    const form = new FormData();
    form.append('patient_id', patient.id);
    form.append('audio_file', new Blob([new Uint8Array(readFileSync(new URL('../fixtures/audio/voice.mp3', import.meta.url)))]), 'results.mp3');
    const res = await fetch(`${svc.url}/api/v1/messages/voice`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${staff.token}` } });
    assert.equal(res.status, 202, await res.clone().text());
    const sent = (await res.json()).data;
    assert.equal(sent.conversation_id, conv.id);

    // Sent by the API as the clinic ('system'), it shows as the clinic's side of the chat.
    const player = w.log.locator(`.cc-msg-voice[data-message-id="${sent.id}"] audio`);
    await player.waitFor({ timeout: 10_000 });
    assert.equal(await player.evaluate((a: HTMLAudioElement) => a.src), `${svc.url}${sent.content}`);
    assert.equal(await player.getAttribute('aria-label'), 'Voice message, 0:02');
    const loaded = await loadMetadata(player);
    assert.ok(Math.abs(loaded.duration - 2.09) < 0.1, `duration ${loaded.duration} ≈ 2.09 s`);
    assert.deepEqual(pageErrors, []);
  });

  it('fits a voice message with a long caption on a phone-sized screen', async () => {
    const viewport = { width: 320, height: 640 };
    const { page, org, w } = await openOnHostPage(viewport);
    const row = await sendVoice(org.id, media(`${host.url}/one-second.wav`, 1), `Your results are in. ${'Supercalifragilistic'.repeat(6)} call us back.`);
    const bubble = voiceBubble(w, row.id);
    await bubble.locator('audio').waitFor();
    for (const box of [await bubble.boundingBox(), await bubble.locator('audio').boundingBox()]) {
      assert.ok(box && box.x >= 0 && box.x + box.width <= viewport.width, `inside the screen: ${JSON.stringify(box)}`);
      assert.ok(box.width > 100, `still usable: ${JSON.stringify(box)}`);
    }
    const overflow = await w.log.evaluate((log) => log.scrollWidth - log.clientWidth);
    assert.equal(overflow, 0, 'the conversation does not scroll sideways');
    await page.screenshot({ path: '/tmp/widget-voice-phone.png' });
  });

  it('shows a voice message sent while away once after the visitor comes back', async () => {
    const { page, org, w } = await openOnHostPage();
    const first = await sendVoice(org.id, media('/media/med_01BROWSERVOICE/tok_first.wav', 4));
    await voiceBubble(w, first.id).locator('audio').waitFor();
    await page.goto('about:blank');
    await waitFor(async () => !(await isConnected(svc, org.id)));
    const missed = await sendVoice(org.id, media('/media/med_01BROWSERVOICE/tok_missed.wav', 9));

    await page.goto(`${host.url}/?org=${org.id}`);
    await page.getByRole('button', { name: /^Open chat \(1 new message\)$/ }).click();
    const again = { ...w, panel: page.getByRole('dialog', { name: /.+/ }) };
    await waitForConnection(again, 'online');
    await voiceBubble(again, missed.id).locator('audio[aria-label="Voice message, 0:09"]').waitFor();
    assert.equal(await again.log.locator('audio').count(), 2, 'the earlier voice message (tab transcript) and the missed one, each once');
    assert.equal(await voiceBubble(again, first.id).locator('audio').evaluate((a: HTMLAudioElement) => a.src), `${svc.url}/media/med_01BROWSERVOICE/tok_first.wav`);
  });
});

async function attributes(player: Locator): Promise<Record<string, string | null>> {
  return player.evaluate((a) => ({ controls: a.getAttribute('controls'), preload: a.getAttribute('preload'), 'aria-label': a.getAttribute('aria-label') }));
}

/** What pressing play would start: the browser fetches the file and reads its duration. */
async function loadMetadata(player: Locator): Promise<{ duration: number; canPlay: string }> {
  return player.evaluate((a: HTMLAudioElement) => new Promise<{ duration: number; canPlay: string }>((resolve, reject) => {
    a.addEventListener('loadedmetadata', () => resolve({ duration: a.duration, canPlay: a.canPlayType('audio/wav') }), { once: true });
    a.addEventListener('error', () => reject(new Error(`audio error ${a.error?.code}: ${a.error?.message}`)), { once: true });
    a.preload = 'metadata';
    a.load();
  }));
}

async function isConnected(svc: RunningService, orgId: string): Promise<boolean> {
  const conv = await svc.deps.db.knex('conversations').where({ organization_id: orgId, channel: 'webchat' }).first('id');
  return svc.webchat.isConnected(conv.id);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
