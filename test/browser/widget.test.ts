import assert from 'node:assert/strict';
import type { Browser, BrowserContext } from 'playwright-core';
import { createOrganization } from '../../models/organizations.js';
import { Message, queueOutboundMessage } from '../../models/messages.js';
import type { RunningService } from '../../main.js';
import { deliver, startWebchatService, stopWebchatServices } from '../support/webchat.js';
import { clickOption, launchBrowser, newPage, offeredOptions, openWidget, sendText, waitForBotText, waitForConnection } from '../support/browser.js';

describe('web chat widget in headless Chromium', function () {
  this.timeout(60_000);
  let svc: RunningService;
  let browser: Browser;

  before(async () => {
    svc = await startWebchatService();
    browser = await launchBrowser();
  });
  const contexts: BrowserContext[] = [];
  const track: typeof newPage = async (...args) => {
    const opened = await newPage(...args);
    contexts.push(opened.page.context());
    return opened;
  };
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
  });
  after(async () => {
    await browser?.close();
    await stopWebchatServices();
  });

  const newOrg = () => createOrganization(svc.deps.db.knex, { name: 'Sunrise Family Clinic', timeZone: 'UTC' });

  it('chats from the demo page: message acknowledged, reply with option buttons, an option sends its value', async () => {
    const org = await newOrg();
    const { page, foreignRequests, pageErrors } = await track(browser, svc.url);
    const w = await openWidget(page, `${svc.url}/?org=${org.id}`);
    assert.equal(await w.log.getAttribute('aria-live'), 'polite');
    assert.ok(await w.input.evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement), 'the input has focus when the panel opens');

    await sendText(w, 'Hello, I would like an appointment');
    await waitForBotText(w, 'How can I help?');
    assert.deepEqual(await offeredOptions(w), ['Book an appointment', 'Talk to the clinic']);
    await page.screenshot({ path: '/tmp/widget.png' });

    await clickOption(w, 'Book an appointment');
    await waitForBotText(w, 'You chose: Book an appointment. Anything else?');
    assert.deepEqual(await offeredOptions(w), [], 'answered options are disabled');
    const inbound = (await Message.query(svc.deps.db.knex).where({ organization_id: org.id, direction: 'inbound' }).orderBy('id')).map((m) => m.content);
    assert.deepEqual(inbound, ['Hello, I would like an appointment', '1'], 'the option sent its value');
    await page.screenshot({ path: '/tmp/widget-after-option.png' });

    await page.keyboard.press('Escape');
    await w.panel.waitFor({ state: 'hidden' });
    const focused = await page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.getAttribute('aria-label') ?? null);
    assert.equal(focused, 'Open chat', 'focus returns to the launcher');
    assert.deepEqual(foreignRequests, [], 'the page and widget make no external requests');
    assert.deepEqual(pageErrors, []);
  });

  it('shows the panel full-screen on a phone-sized viewport', async () => {
    const org = await newOrg();
    const { page } = await track(browser, svc.url, { width: 390, height: 844 });
    const w = await openWidget(page, `${svc.url}/?org=${org.id}`);
    await sendText(w, 'Hi');
    await waitForBotText(w, 'How can I help?');
    const box = await w.panel.boundingBox();
    assert.deepEqual(box, { x: 0, y: 0, width: 390, height: 844 });
    await page.screenshot({ path: '/tmp/widget-phone.png' });
  });

  it('a returning visitor reconnects with its session and sees the replies sent while away', async () => {
    const org = await newOrg();
    const { page } = await track(browser, svc.url);
    const w = await openWidget(page, `${svc.url}/?org=${org.id}`);
    await sendText(w, 'Hello');
    await waitForBotText(w, 'How can I help?');
    const conversationId = await svc.deps.db.knex('conversations').where({ organization_id: org.id }).first('id', 'channel_address');

    await page.goto('about:blank');
    await waitFor(async () => !svc.webchat.isConnected(conversationId.id));
    const row = await queueOutboundMessage(svc.deps.db.knex, { organizationId: org.id }, {
      conversationId: conversationId.id, channel: 'webchat', to: conversationId.channel_address, text: 'Reception here: we called you back.', sender: 'staff',
    });
    await deliver(svc.deps.db.knex, svc.webchat, row);

    await page.goto(`${svc.url}/?org=${org.id}`);
    await page.getByRole('button', { name: /^Open chat \(1 new message\)$/ }).click();
    const again = { ...w, panel: page.getByRole('dialog', { name: /.+/ }) };
    await waitForConnection(again, 'online');
    await waitForBotText(again, 'Reception here: we called you back.');
    // The earlier exchange is still on screen (tab transcript), and nothing shows twice.
    assert.equal(await again.log.locator('.cc-msg-bot').filter({ hasText: 'How can I help?' }).count(), 1);
    assert.equal(await again.log.locator('.cc-msg-staff').count(), 1);
  });

  it('says the chat is not available for an unknown organization', async () => {
    const { page } = await track(browser, svc.url);
    await page.goto(`${svc.url}/?org=org_01JZZZZZZZZZZZZZZZZZZZZZZZ`);
    await page.getByRole('button', { name: /^Open chat/ }).click();
    await page.getByRole('status').filter({ hasText: 'Chat is not available' }).waitFor();
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
