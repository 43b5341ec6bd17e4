/**
 * Real headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core,
 * and the few steps a visitor takes in the chat widget. A browser that cannot
 * start fails the test: it is never skipped.
 */
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
      timeout: 30_000,
    });
  } catch (err) {
    throw new Error(`Chromium could not start from ${CHROMIUM_PATH} (install it: apt-get install chromium): ${(err as Error).message}`);
  }
}

/** A page that may only talk to the service under test: any other request fails the test. */
export async function newPage(browser: Browser, baseUrl: string, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; foreignRequests: string[]; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];
  const origin = new URL(baseUrl);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === origin.host) return route.continue();
    foreignRequests.push(url.href);
    return route.abort();
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { page, foreignRequests, pageErrors };
}

export interface WidgetHandle {
  page: Page;
  panel: Locator;
  log: Locator;
  input: Locator;
}

/** Opens the page (the demo page by default), clicks the launcher, waits until the chat is online. */
export async function openWidget(page: Page, url: string): Promise<WidgetHandle> {
  await page.goto(url);
  await page.getByRole('button', { name: /^Open chat/ }).click();
  const panel = page.getByRole('dialog', { name: /.+/ });
  await panel.waitFor({ state: 'visible' });
  const handle: WidgetHandle = { page, panel, log: page.getByRole('log'), input: page.getByLabel('Type your message') };
  await waitForConnection(handle, 'online');
  return handle;
}

export async function waitForConnection(w: WidgetHandle, state: 'online' | 'offline' | 'connecting', timeout = 10_000): Promise<void> {
  await w.panel.locator(`.cc-state[data-state="${state}"]`).waitFor({ timeout });
}

/** Types a message and presses Enter; resolves once the server acknowledged it. */
export async function sendText(w: WidgetHandle, text: string): Promise<void> {
  const before = await w.log.locator('.cc-msg-me').count();
  await w.input.fill(text);
  await w.input.press('Enter');
  await w.log.locator('.cc-msg-me').nth(before).and(w.page.locator('[data-state="sent"]')).waitFor({ timeout: 10_000 });
}

/** Clicks the enabled option button with that label. */
export async function clickOption(w: WidgetHandle, label: string): Promise<void> {
  await w.log.getByRole('button', { name: label, disabled: false }).click();
}

/** Waits for a bot or staff message containing `text`; returns its locator. */
export async function waitForBotText(w: WidgetHandle, text: string | RegExp, timeout = 10_000): Promise<Locator> {
  const message = w.log.locator('.cc-msg-bot, .cc-msg-staff').filter({ hasText: text }).last();
  await message.waitFor({ timeout });
  return message;
}

/** The labels of the option buttons currently offered (enabled). */
export async function offeredOptions(w: WidgetHandle): Promise<string[]> {
  return w.log.locator('.cc-option:not([disabled])').allTextContents();
}
