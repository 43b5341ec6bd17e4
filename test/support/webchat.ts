/**
 * Web chat test support: a service started with a stand-in engine as its
 * `onInbound`, and a real `ws` visitor client that collects server frames.
 *
 * STAND-IN ENGINE: the conversation engine (bot/) is our own code still under
 * construction. `standInEngine` stores the inbound message through the real
 * models and queues one assistant reply with options, then delivers it the way
 * the real dispatcher does (after commit, claim + the adapter's `send` + record). Replace it
 * with the real engine once main.ts wires one.
 */
import { WebSocket } from 'ws';
import type { Knex } from 'knex';
import { startService, type RunningService } from '../../main.js';
import { createLogger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import type { InboundResult, OnInbound, OutboundMessage } from '../../channels/types.js';
import type { WebchatAdapter } from '../../channels/webchat/adapter.js';
import { storeInboundMessage, queueOutboundMessage, type Message } from '../../models/messages.js';
import { findOrCreateOpenConversation } from '../../models/conversations.js';
import { testConfig, testDatabase } from './service.js';
import type { Database } from '../../models/db.js';
import { OutboundDispatcher } from '../../channels/dispatcher.js';
import { ChannelRegistry } from '../../channels/registry.js';

export const STAND_IN_OPTIONS = [
  { value: '1', label: 'Book an appointment' },
  { value: '2', label: 'Talk to the clinic' },
];

/** What the stand-in answers: a menu to any text, a confirmation to a menu choice. */
export function standInReply(text: string): { text: string; options: { value: string; label: string }[] | null } {
  const choice = STAND_IN_OPTIONS.find((o) => o.value === text.trim());
  if (choice) return { text: `You chose: ${choice.label}. Anything else?`, options: null };
  return { text: 'Hello! I am the CareChat assistant. How can I help?', options: STAND_IN_OPTIONS };
}

export function toOutbound(row: Message): OutboundMessage {
  return {
    id: row.id, organizationId: row.organization_id, channel: 'webchat', to: row.to_address ?? '', text: row.content,
    options: row.options, conversationId: row.conversation_id, sender: row.sender as OutboundMessage['sender'], createdAt: row.created_at,
  };
}

/**
 * Runs the real outbound dispatcher once for one organization's web chat rows
 * (claim, adapter.send, record), so tests sharing the database never claim
 * each other's messages.
 */
export async function dispatchWebchat(db: Database, adapter: WebchatAdapter, organizationId: string): Promise<number> {
  const dispatcher = new OutboundDispatcher(db, new ChannelRegistry([adapter]), createLogger('silent'), {
    pollMs: 1000, batchSize: 50, leaseSeconds: 30, maxAttempts: 5, backoff: [1000], channels: ['webchat'], organizationIds: [organizationId],
  });
  return dispatcher.drain();
}

/** Sends one stored outbound row straight through the adapter and records the result (a message sent while nobody is connected...). */
export async function deliver(knex: Knex, adapter: WebchatAdapter, row: Message): Promise<void> {
  const result = await adapter.send(toOutbound(row));
  const status = result.status ?? 'sent';
  await knex('messages').where({ id: row.id }).update({
    status, provider_message_id: result.providerMessageId, sent_at: new Date(),
    ...(status === 'delivered' ? { delivered_at: new Date() } : {}),
  });
}

/** The stand-in for the conversation engine (see the file comment). */
export function standInEngine(db: Database, adapter: () => WebchatAdapter): OnInbound {
  const knex = db.knex;
  return async (msg): Promise<InboundResult> => {
    const scope = { organizationId: msg.organizationId };
    const { stored, reply, conversationId } = await knex.transaction(async (trx) => {
      const conversation = msg.conversationId
        ? { id: msg.conversationId, patient_id: null }
        : await findOrCreateOpenConversation(trx, scope, { channel: msg.channel, address: msg.from, idleMinutes: 60, now: msg.receivedAt });
      const inbound = await storeInboundMessage(trx, scope, {
        conversationId: conversation.id, patientId: conversation.patient_id, channel: msg.channel, from: msg.from, text: msg.text,
        providerMessageId: msg.providerMessageId, clientMessageId: msg.clientMessageId, receivedAt: msg.receivedAt,
      });
      if (inbound.duplicate) return { stored: inbound, reply: null, conversationId: conversation.id };
      const answer = standInReply(msg.text);
      const queued = await queueOutboundMessage(trx, scope, {
        conversationId: conversation.id, channel: msg.channel, to: msg.from, text: answer.text, options: answer.options, sender: 'assistant',
      });
      return { stored: inbound, reply: queued, conversationId: conversation.id };
    });
    // After commit, as the engine does: the adapter acknowledges then.
    msg.onStored?.({ messageId: stored.message.id, conversationId, duplicate: stored.duplicate, botAnswers: !stored.duplicate });
    // After commit, like the dispatcher's kick.
    if (reply) setImmediate(() => { void dispatchWebchat(db, adapter(), msg.organizationId).catch(() => undefined); });
    return { messageId: stored.message.id, conversationId, duplicate: stored.duplicate };
  };
}

const started: RunningService[] = [];

/** A service on the shared test database whose web chat goes to the stand-in engine (or `onInbound`). */
export async function startWebchatService(opts: { onInbound?: OnInbound; clock?: Clock; overrides?: Record<string, string> } = {}): Promise<RunningService> {
  const config = testConfig(opts.overrides);
  const db = await testDatabase();
  let svc: RunningService | null = null;
  const onInbound = opts.onInbound ?? standInEngine(db, () => svc!.webchat);
  svc = await startService({ config, db, logger: createLogger(config.LOG_LEVEL), skipBootstrap: true, clock: opts.clock, onInbound });
  started.push(svc);
  return svc;
}

export async function stopWebchatServices(): Promise<void> {
  for (const svc of started.splice(0)) await svc.stop();
}

export interface ServerFrame {
  type: string;
  [key: string]: unknown;
}

/** A visitor's socket: every server frame is kept in order; `next` waits for the next matching one. */
export class VisitorClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | null = null;
  private cursor = 0;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as ServerFrame);
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.wake();
    });
    ws.on('error', () => this.wake());
  }

  /** Opens `/chat` with the given query (org, session, after) and waits for the socket to open or close. */
  static async connect(baseUrl: string, query: Record<string, string | undefined>): Promise<VisitorClient> {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/chat?${params}`);
    const client = new VisitorClient(ws);
    await new Promise<void>((resolve) => {
      ws.once('open', () => resolve());
      ws.once('close', () => resolve());
      ws.once('error', () => resolve());
    });
    return client;
  }

  /** Connects and returns the client with its session frame. */
  static async open(baseUrl: string, query: Record<string, string | undefined>): Promise<{ client: VisitorClient; session: { session_token: string; conversation_id: string } }> {
    const client = await VisitorClient.connect(baseUrl, query);
    const session = await client.next((f) => f.type === 'session');
    return { client, session: session as unknown as { session_token: string; conversation_id: string } };
  }

  sendRaw(data: string): void {
    this.ws.send(data);
  }

  sendMessage(id: string, text: string): void {
    this.ws.send(JSON.stringify({ type: 'message', id, text }));
  }

  /** The next frame after the ones already taken that matches; frames skipped over are consumed. */
  async next(match: (f: ServerFrame) => boolean = () => true, timeoutMs = 5000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++];
        if (match(frame)) return frame;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting; frames: ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  /** Resolves with the close code once the server closed the socket. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket still open');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.closed;
  }

  /** Every message frame received so far. */
  messages(): ServerFrame[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ws.close(1000);
    await this.waitClosed().catch(() => this.ws.terminate());
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
