/**
 * The web chat channel: visitors connect to `/chat` over WebSocket (see
 * protocol.ts for the frames). `send` pushes to the sockets of a conversation
 * held by this instance; when none is here, a NOTIFY lets the instance that
 * holds the socket load the stored row and push it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../lib/logger.js';
import type { InboundResult } from '../../lib/inbound.js';
import type { Clock } from '../../lib/clock.js';
import type { Database } from '../../models/db.js';
import {
  bindSessionConversation, listOutboundAfter, loadOutboundMessage, openWebchatSession, organizationExists,
  startWebchatSession, touchWebchatSession, type OpenedSession, type StoredOutbound,
} from '../../models/webchatSessions.js';
import type { ChannelAdapter, ChannelCapabilities, ChannelHealth, OnInbound, OutboundMessage, SendResult } from '../types.js';
import { renderForChannel } from '../dispatchText.js';
import { outboundMediaOf } from '../outboundMedia.js';
import { RateWindow, VisitorConnection } from './connection.js';
import { MAX_FRAME_BYTES, messageFrame, parseClientFrame, type ClientMessageFrame, type MessageFrame } from './protocol.js';

/** The NOTIFY channel that carries "push message M of conversation C" between instances. */
export const WEBCHAT_NOTIFY_CHANNEL = 'carechat_webchat';

/** Close codes the widget understands (4xxx are ours). */
export const CLOSE_CODES = { goingAway: 1001, badRequest: 4400, unknownOrg: 4404, internal: 4500 } as const;

export interface WebchatOptions {
  db: Database;
  logger: Logger;
  clock: Clock;
  onInbound: OnInbound;
  /** Keepalive: a socket that misses one ping round is dropped. */
  pingIntervalMs?: number;
  /** A conversation silent this long is replaced by a new one when the visitor comes back (CONVERSATION_IDLE_MINUTES). */
  idleMinutes?: number;
  /** Messages a session may send per window. */
  rateLimit?: { messages: number; windowMs: number };
}

const TOUCH_EVERY_MS = 60_000;
const CLOSE_GRACE_MS = 2_000;

export class WebchatAdapter implements ChannelAdapter {
  readonly name = 'webchat' as const;
  readonly capabilities: ChannelCapabilities = { buttons: true, media: true, maxTextLength: 4000 };
  readonly enabled = true;

  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  private readonly byConversation = new Map<string, Set<VisitorConnection>>();
  private readonly bySession = new Map<string, Set<VisitorConnection>>();
  private readonly sockets = new Set<WebSocket>();
  private readonly rate: RateWindow;
  private readonly instanceId = randomBytes(8).toString('hex');
  private readonly lastTouch = new Map<string, number>();
  /** The last notified push of each conversation still under way: the next one goes after it (NOTIFY order is send order). */
  private readonly notifiedPushes = new Map<string, Promise<unknown>>();
  private pingTimer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private state: 'new' | 'up' | 'stopped' = 'new';

  constructor(private readonly opts: WebchatOptions) {
    this.rate = new RateWindow(opts.rateLimit?.messages ?? 20, opts.rateLimit?.windowMs ?? 10_000);
  }

  async start(): Promise<void> {
    if (this.state === 'up') return;
    this.unlisten = await this.opts.db.listen(WEBCHAT_NOTIFY_CHANNEL, (payload) => {
      this.onNotify(payload).catch((err: unknown) => this.opts.logger.warn({ err }, 'web chat: pushing a notified message failed'));
    });
    this.pingTimer = setInterval(() => this.keepalive(), this.opts.pingIntervalMs ?? 25_000);
    this.pingTimer.unref();
    this.state = 'up';
  }

  /** Closes every visitor socket with 1001 (the widget reconnects to another instance) and stops listening. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.pingTimer) clearInterval(this.pingTimer);
    await this.unlisten?.().catch(() => undefined);
    const closing = [...this.sockets].map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === ws.CLOSED) return resolve();
      const force = setTimeout(() => { ws.terminate(); resolve(); }, CLOSE_GRACE_MS);
      ws.once('close', () => { clearTimeout(force); resolve(); });
      ws.close(CLOSE_CODES.goingAway, 'server shutting down');
    }));
    await Promise.all(closing);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  health(): ChannelHealth {
    const up = this.state === 'up';
    return { name: 'webchat', enabled: true, status: up ? 'up' : 'down', detail: `${this.sockets.size} visitor socket(s) on this instance` };
  }

  /** Pushes to this instance's sockets of the conversation; 'sent' (replayed on reconnect) when none got it. */
  async send(msg: OutboundMessage): Promise<SendResult> {
    const frame = messageFrame({ id: msg.id, sender: msg.sender, text: msg.text, options: msg.options, createdAt: msg.createdAt, media: msg.media });
    const targets = this.connectionsFor(msg.conversationId, msg.to);
    if (targets.length === 0) {
      if (msg.conversationId) await this.publish(msg.id, msg.conversationId, msg.part);
      return { providerMessageId: null, status: 'sent' };
    }
    const results = await Promise.all(targets.map((c) => c.push(frame)));
    // No provider id: no receipt ever looks a web chat message up by one (and it would cost an index entry per reply).
    return { providerMessageId: null, status: results.some(Boolean) ? 'delivered' : 'sent' };
  }

  /**
   * Pushes a stored outbound row (a staff reply just queued) to the visitor now,
   * here or, through NOTIFY, on the instance holding the socket. True when a
   * local socket took it.
   */
  async pushStoredMessage(conversationId: string, messageId: string): Promise<boolean> {
    if (this.connectionsFor(conversationId, null).length === 0) {
      await this.publish(messageId, conversationId);
      return false;
    }
    return this.pushLocal(conversationId, messageId);
  }

  /** For the upgrade router: takes over an HTTP upgrade request for `/chat`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.state !== 'up') {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.accept(ws, url.searchParams).catch((err: unknown) => {
        this.opts.logger.error({ err }, 'web chat: opening a session failed');
        ws.close(CLOSE_CODES.internal, 'internal error');
      });
    });
  }

  /** Whether a visitor of this conversation is connected to this instance (e.g. "online" in a staff view). */
  isConnected(conversationId: string): boolean {
    return this.connectionsFor(conversationId, null).length > 0;
  }

  /** Number of open visitor sockets on this instance. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  private async accept(ws: WebSocket, params: URLSearchParams): Promise<void> {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', (err) => this.opts.logger.debug({ err }, 'web chat: socket error'));
    const orgId = params.get('org') ?? '';
    if (!orgId) return ws.close(CLOSE_CODES.badRequest, 'org is required');
    if (!/^org_[0-9A-Za-z]{1,64}$/.test(orgId)) return ws.close(CLOSE_CODES.unknownOrg, 'unknown organization');
    // Frames that arrive while the session opens wait for it.
    const early: string[] = [];
    const collectEarly = (data: Buffer) => early.push(data.toString('utf8'));
    ws.on('message', collectEarly);

    const now = this.opts.clock.now();
    const opened = await this.openSession(orgId, params.get('session'), now);
    if (!opened) return ws.close(CLOSE_CODES.unknownOrg, 'unknown organization');
    if (ws.readyState !== ws.OPEN) return;
    if (this.state !== 'up') return ws.close(CLOSE_CODES.goingAway, 'server shutting down');
    // Opening the session marked it seen: the first message need not again.
    this.lastTouch.set(opened.session.id, now.getTime());
    const conn = new VisitorConnection(ws, orgId, opened.session.id, opened.conversationId);
    this.register(conn);
    ws.on('close', () => this.unregister(conn));
    ws.on('pong', () => { conn.alive = true; });
    ws.off('message', collectEarly);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(conn, data, isBinary));
    this.opts.logger.debug({ session_id: conn.sessionId, conversation_id: conn.conversationId, resumed: opened.resumed }, 'web chat: visitor connected');

    await conn.sendFrame({ type: 'session', session_token: opened.token, conversation_id: opened.conversationId });
    const after = params.get('after');
    let missed: MessageFrame[] = [];
    if (opened.resumed && after) {
      const rows = await listOutboundAfter(this.opts.db.knex, orgId, opened.conversationId, after, now);
      missed = rows.map((row) => storedFrame(row, this.capabilities)).filter((f): f is MessageFrame => f !== null);
    }
    await conn.finishReplay(missed);
    for (const raw of early) this.onFrame(conn, Buffer.from(raw, 'utf8'), false);
  }

  /** A new visitor's session in one statement; a resumed one (the visitor kept a token) the long way. Null: no such organization. */
  private async openSession(orgId: string, token: string | null, now: Date): Promise<OpenedSession | null> {
    const knex = this.opts.db.knex;
    if (!token) return startWebchatSession(knex, { organizationId: orgId, now });
    if (!(await organizationExists(knex, orgId))) return null;
    return openWebchatSession(knex, { organizationId: orgId, token, idleMinutes: this.opts.idleMinutes ?? 24 * 60, now });
  }

  private onFrame(conn: VisitorConnection, data: Buffer, isBinary: boolean): void {
    conn.alive = true;
    if (isBinary) {
      void conn.sendFrame({ type: 'error', code: 'invalid_frame', message: 'Frames must be JSON text.' });
      return;
    }
    const parsed = parseClientFrame(data.toString('utf8'));
    if (!parsed.ok) {
      void conn.sendFrame({ type: 'error', code: parsed.code, message: parsed.message, ...(parsed.id ? { id: parsed.id } : {}) });
      return;
    }
    const frame = parsed.frame;
    if (frame.type === 'ping') {
      void conn.sendFrame({ type: 'pong' });
      return;
    }
    if (!this.rate.allow(conn.sessionId, this.opts.clock.now().getTime())) {
      void conn.sendFrame({ type: 'error', code: 'rate_limited', message: 'Too many messages; wait a few seconds and try again.', id: frame.id });
      return;
    }
    conn.enqueue(() => this.handleMessage(conn, frame));
  }

  private async handleMessage(conn: VisitorConnection, frame: ClientMessageFrame): Promise<void> {
    const receivedAt = this.opts.clock.now();
    // Acknowledged as soon as it is stored, with "typing" while the bot's turn plays (both in one socket write).
    let acked = false;
    const ack = (stored: InboundResult, typing: boolean) => {
      if (acked) return;
      acked = true;
      conn.sendControlFrames([{ type: 'ack', id: frame.id, message_id: stored.messageId }, ...(typing ? [{ type: 'typing' } as const] : [])]);
    };
    let result;
    try {
      result = await this.opts.onInbound({
        organizationId: conn.organizationId, channel: 'webchat', from: conn.sessionId, providerMessageId: null,
        clientMessageId: frame.id, text: frame.text, receivedAt, conversationId: conn.conversationId,
        onStored: (stored) => ack(stored, stored.botAnswers),
      });
    } catch (err) {
      this.opts.logger.error({ err, session_id: conn.sessionId }, 'web chat: handling an inbound message failed');
      await conn.sendFrame({ type: 'error', code: 'internal_error', message: 'Your message could not be processed; please send it again.', id: frame.id });
      return;
    }
    ack(result, false);
    if (result.conversationId !== conn.conversationId) {
      // The engine opened a new conversation (the old one was closed): follow it.
      this.rebind(conn, result.conversationId);
      await bindSessionConversation(this.opts.db.knex, conn.sessionId, result.conversationId);
    }
    await this.touch(conn.sessionId, receivedAt);
  }

  private async touch(sessionId: string, now: Date): Promise<void> {
    const last = this.lastTouch.get(sessionId) ?? 0;
    if (now.getTime() - last < TOUCH_EVERY_MS) return;
    this.lastTouch.set(sessionId, now.getTime());
    await touchWebchatSession(this.opts.db.knex, sessionId, now);
  }

  private keepalive(): void {
    for (const set of this.bySession.values()) {
      for (const conn of set) {
        if (!conn.alive) {
          conn.ws.terminate();
          continue;
        }
        conn.alive = false;
        conn.ws.ping();
      }
    }
  }

  /** `part`: the dispatcher's part of a split message (the payload stays small: the receiver splits the stored text again). */
  private async publish(messageId: string, conversationId: string, part?: number): Promise<void> {
    const payload = JSON.stringify({ i: this.instanceId, m: messageId, c: conversationId, ...(part !== undefined ? { p: part } : {}) });
    await this.opts.db.knex.raw('select pg_notify(?, ?)', [WEBCHAT_NOTIFY_CHANNEL, payload]);
  }

  private async onNotify(payload: string): Promise<void> {
    let note: { i?: unknown; m?: unknown; c?: unknown; p?: unknown };
    try {
      note = JSON.parse(payload) as typeof note;
    } catch {
      return;
    }
    if (note.i === this.instanceId || typeof note.m !== 'string' || typeof note.c !== 'string') return;
    const conversationId = note.c;
    const messageId = note.m;
    if (this.connectionsFor(conversationId, null).length === 0) return;
    // Each push reads its row first: without the chain, part 2 of a split message could overtake part 1.
    const push = (this.notifiedPushes.get(conversationId) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.pushLocal(conversationId, messageId, typeof note.p === 'number' ? note.p : undefined));
    this.notifiedPushes.set(conversationId, push);
    try {
      await push;
    } finally {
      if (this.notifiedPushes.get(conversationId) === push) this.notifiedPushes.delete(conversationId);
    }
  }

  /** Pushes the stored row, or one part of it as the dispatcher split it (the same frames as a local send). */
  private async pushLocal(conversationId: string, messageId: string, part?: number): Promise<boolean> {
    const row = await loadOutboundMessage(this.opts.db.knex, conversationId, messageId);
    if (!row) return false;
    const frame = storedFrame(row, this.capabilities, part);
    if (!frame) return false;
    const targets = this.connectionsFor(conversationId, row.to_address).filter((c) => c.organizationId === row.organization_id);
    const results = await Promise.all(targets.map((c) => c.push(frame)));
    return results.some(Boolean);
  }

  private connectionsFor(conversationId: string | null, sessionId: string | null): VisitorConnection[] {
    const found = new Set<VisitorConnection>();
    if (conversationId) for (const c of this.byConversation.get(conversationId) ?? []) found.add(c);
    if (sessionId) for (const c of this.bySession.get(sessionId) ?? []) found.add(c);
    return [...found].filter((c) => c.open);
  }

  private register(conn: VisitorConnection): void {
    addTo(this.byConversation, conn.conversationId, conn);
    addTo(this.bySession, conn.sessionId, conn);
  }

  private unregister(conn: VisitorConnection): void {
    removeFrom(this.byConversation, conn.conversationId, conn);
    removeFrom(this.bySession, conn.sessionId, conn);
    if (!this.bySession.has(conn.sessionId)) {
      this.rate.forget(conn.sessionId);
      this.lastTouch.delete(conn.sessionId);
    }
    this.opts.logger.debug({ session_id: conn.sessionId }, 'web chat: visitor disconnected');
  }

  private rebind(conn: VisitorConnection, conversationId: string): void {
    removeFrom(this.byConversation, conn.conversationId, conn);
    conn.conversationId = conversationId;
    addTo(this.byConversation, conversationId, conn);
  }
}

/**
 * The frame of a stored row (the same as its live send): the whole row, or the
 * `part` the dispatcher split it into. A voice message is never split: its
 * content is the audio's URL, which messageFrame does not show as text.
 */
function storedFrame(row: StoredOutbound, caps: ChannelCapabilities, part?: number): MessageFrame | null {
  const media = outboundMediaOf({ media: row.media });
  const whole = part === undefined || (media !== null && part === 0);
  const piece = whole ? { text: row.content, options: row.options } : renderForChannel(row.content, row.options, caps)[part];
  if (!piece) return null;
  return messageFrame({ id: row.id, sender: row.sender, text: piece.text, options: piece.options, createdAt: row.created_at, media });
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
