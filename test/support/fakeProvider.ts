/**
 * What every fake provider (Twilio, WhatsApp Cloud, Telegram Bot API) has in
 * common: a real HTTP server on 127.0.0.1, and `waitUntil` for a condition on
 * what it received, checked each time the subclass calls `notify()`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class FakeProviderServer {
  url = '';
  private server: http.Server | null = null;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  /** Answers one request; a throw answers 500. */
  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
  /** What it received so far, for a timeout's message. */
  protected abstract progress(): string;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** Resolves once `check()` holds (checked after everything the fake records), or rejects after `timeoutMs`. */
  async waitUntil(check: () => boolean, timeoutMs = 10_000, what = `the ${this.constructor.name} condition`): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.progress()})`));
      }, timeoutMs);
      const waiter = { check, resolve: () => { clearTimeout(timer); resolve(); } };
      this.waiters.push(waiter);
    });
  }

  /** Something was recorded: wakes the waiters whose condition now holds. */
  protected notify(): void {
    const ready = this.waiters.filter((w) => w.check());
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}
