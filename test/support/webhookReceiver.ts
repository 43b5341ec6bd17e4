/**
 * An integrator's webhook endpoint on 127.0.0.1: records every request (raw
 * body and headers, as received) and answers as the test says.
 */
import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  payload: { id: string; event: string; created_at: string; organization_id: string; data: Record<string, unknown> };
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** What to answer next (status, optional delay, optional headers); default 200. */
  respond: (req: ReceivedWebhook) => { status: number; delayMs?: number; headers?: Record<string, string> };
  /** Resolves when `n` requests have been received (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const waiters: Array<() => void> = [];
  const receiver: WebhookReceiver = {
    url: '',
    received,
    respond: () => ({ status: 200 }),
    waitFor: (n, timeoutMs = 5_000) => new Promise((resolve, reject) => {
      const check = () => {
        if (received.length < n) return false;
        clearTimeout(timer);
        resolve(received.slice());
        return true;
      };
      const timer = setTimeout(() => reject(new Error(`expected ${n} webhook requests, got ${received.length}`)), timeoutMs);
      const onRequest = () => { if (!check()) waiters.push(onRequest); };
      onRequest();
    }),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const hook: ReceivedWebhook = { headers: req.headers, rawBody, payload: JSON.parse(rawBody) };
      received.push(hook);
      for (const w of waiters.splice(0)) w();
      const answer = receiver.respond(hook);
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end('ok');
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/carechat`;
  return receiver;
}

/** What the receiver should compute: `sha256=` + hex HMAC-SHA256 of the raw body. */
export function expectedSignature(rawBody: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}
