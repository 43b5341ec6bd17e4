/**
 * One visitor's WebSocket: frames in order, a per-socket memory of what was
 * already pushed (so a replayed message and its live copy show once), and a
 * buffer for live pushes while the missed messages are being replayed.
 */
import { createHash } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { MessageFrame, ServerFrame } from './protocol.js';

/** How many pushed message ids a socket remembers for de-duplication. */
const REMEMBERED_IDS = 2000;
const SEND_TIMEOUT_MS = 5_000;

export class VisitorConnection {
  alive = true;
  private pushed = new Set<string>();
  private replaying = true;
  private held: MessageFrame[] = [];
  /** Frames from the visitor are handled one after another, so turns keep their order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    readonly organizationId: string,
    readonly sessionId: string,
    public conversationId: string,
  ) {}

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Sends a control frame (session, ack, typing, error); resolves false when the socket is gone. */
  sendFrame(frame: ServerFrame): Promise<boolean> {
    if (!this.open) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), SEND_TIMEOUT_MS);
      this.ws.send(JSON.stringify(frame), (err) => {
        clearTimeout(timer);
        resolve(!err);
      });
    });
  }

  /**
   * Sends control frames that need no confirmation (ack, typing) in one
   * socket write: ws writes each frame at once, and every write to a socket
   * is a system call that wakes the reader. (ws keeps the net.Socket in
   * `_socket`; corking it is what ws itself does around a frame's two buffers.)
   */
  sendControlFrames(frames: ServerFrame[]): void {
    if (!this.open) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    socket?.cork();
    try {
      for (const frame of frames) this.ws.send(JSON.stringify(frame));
    } finally {
      socket?.uncork();
    }
  }

  /**
   * Pushes a message at most once per socket. While the replay runs, live
   * messages wait so the visitor sees them after the older ones.
   */
  async push(frame: MessageFrame): Promise<boolean> {
    if (!this.open) return false;
    if (this.replaying) {
      this.held.push(frame);
      return true;
    }
    return this.deliver(frame);
  }

  /** Ends the replay: held live messages go out now, in arrival order, without repeats. */
  async finishReplay(replayed: MessageFrame[]): Promise<void> {
    for (const frame of replayed) await this.deliver(frame);
    this.replaying = false;
    const held = this.held.splice(0);
    for (const frame of held) await this.deliver(frame);
  }

  enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task, task);
  }

  private async deliver(frame: MessageFrame): Promise<boolean> {
    const key = dedupeKey(frame);
    if (this.pushed.has(key)) return true;
    this.remember(key);
    const ok = await this.sendFrame(frame);
    if (!ok) this.pushed.delete(key);
    return ok;
  }

  private remember(id: string): void {
    this.pushed.add(id);
    if (this.pushed.size > REMEMBERED_IDS) {
      const oldest = this.pushed.values().next().value;
      if (oldest !== undefined) this.pushed.delete(oldest);
    }
  }
}

/**
 * The id and the text: the dispatcher sends a text longer than the channel's
 * limit as several parts under the same message id, and each part must show.
 * A voice message is never split: its id alone (its live copy may carry a
 * caption its replayed copy lacks).
 */
function dedupeKey(frame: MessageFrame): string {
  if (frame.audio) return `${frame.id}:audio`;
  return `${frame.id}:${createHash('sha1').update(frame.text).digest('base64url').slice(0, 16)}`;
}

/** A sliding window of message times per session: `limit` messages per `windowMs`. */
export class RateWindow {
  private hits = new Map<string, number[]>();

  constructor(private readonly limit: number, private readonly windowMs: number) {}

  allow(key: string, nowMs: number): boolean {
    const recent = (this.hits.get(key) ?? []).filter((t) => nowMs - t < this.windowMs);
    if (recent.length >= this.limit) {
      this.hits.set(key, recent);
      return false;
    }
    recent.push(nowMs);
    this.hits.set(key, recent);
    return true;
  }

  forget(key: string): void {
    this.hits.delete(key);
  }
}
