/**
 * The chat benchmark's load generator, run as its own process (bench/chat.ts
 * spawns it) so it never shares an event loop with the server it measures.
 *
 * N web chat visitors (ws), each holding a conversation: in `booking` mode a
 * booking by numbered replies, chosen from the options the server sends
 * (hello -> book -> name -> phone -> specialty -> day -> slot -> yes, then
 * "1" books again); in `echo` mode any reply is answered at once. A turn is
 * "message sent -> first reply frame received". Visitors keep under the web
 * chat's per-visitor limit (20 messages / 10 s) with a gap between sends;
 * `rate` paces all visitors together to that many turns per second.
 *
 * Visitors behave independently, as patients do: their first messages are
 * spread over the first 60% of the warm-up, and each think time varies by
 * `jitter` around the gap. (When they all started within one gap and kept an exact gap, they
 * went through the dialogue in step: everyone gave a phone number in the same
 * second, then everyone booked in the same second, and the latencies measured
 * those bursts, not the server at the rate asked for.)
 *
 * Usage: node --import tsx bench/chatClient.ts '<json ChatLoadConfig>'; prints `WINDOW start` and `WINDOW end`
 * when the measured window opens and closes, then one JSON ChatLoadReport line.
 */
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';

export interface ChatLoadConfig {
  url: string;
  org: string;
  mode: 'booking' | 'echo';
  clients: number;
  warmupSeconds: number;
  seconds: number;
  /** Total turns per second to pace the visitors to; absent: as fast as replies and `gapMs` allow. */
  rate?: number;
  /** Mean time between two sends of one visitor (the server allows 20 per 10 s). */
  gapMs: number;
  /** Each think time is the gap times a uniform factor in [1 - jitter, 1 + jitter] (default 0.15; 0: exact). */
  jitter?: number;
  /** Distinguishes the phone numbers of visitors of different runs. */
  runId: number;
}

export interface ChatLoadReport {
  turns: number;
  turnsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  /** Turns completed over the whole run (warm-up and drain included). */
  totalTurns: number;
  bookings: number;
  conflicts: number;
  errors: number;
  stalls: number;
  /** Replies that were not understood ("Sorry, I didn't understand"): the script should make none. */
  misunderstood: number;
  /** Latency by dialogue step (what the visitor was answering): where the tail is. */
  steps: Record<string, { turns: number; p50: number; p99: number; max: number }>;
  /** Turns slower than 60 ms, by the half second of the window they were sent in: a stall shows as a cluster. */
  slowBySecondHalf: number[];
}

interface Frame { type: string; text?: string; options?: { value: string; label: string }[]; code?: string }

type DialogueStep = 'name' | 'phone' | 'booked' | 'menu' | 'conflict' | 'confirm' | 'slot' | 'day' | 'specialty' | 'other';

/** The dialogue step a reply asks the visitor for ('other': no question, such as "Thank you, …"). */
export function dialogueStep(frame: Frame): DialogueStep {
  const text = frame.text ?? '';
  const labels = (frame.options ?? []).map((o) => o.label);
  if (text.startsWith('Before we go on, what is your full name?')) return 'name';
  if (text.includes('What mobile number')) return 'phone';
  if (text.startsWith('Done! Your appointment is booked')) return 'booked';
  if (labels.length === 0) return 'other';
  if (labels.includes('Book an appointment')) return 'menu';
  if (labels.includes('Talk to a person') && labels.includes('Main menu')) return 'conflict';
  if (labels[0] === 'Yes' && labels[1] === 'No') return 'confirm';
  if (labels[labels.length - 1] === 'Another day') return 'slot';
  if (labels[0] === 'Today') return 'day';
  return 'specialty'; // or doctor
}

/** A reply of the booking dialogue -> what the visitor answers; null: wait for the next frame of the same turn. */
export function bookingAnswer(frame: Frame, visitor: { name: string; phone: string }, random: () => number = Math.random): string | null {
  const n = frame.options?.length ?? 0;
  const pick = (from: number, to: number) => String(from + Math.floor(random() * (to - from + 1)));
  switch (dialogueStep(frame)) {
    case 'name': return visitor.name;
    case 'phone': return visitor.phone;
    case 'booked': case 'menu': case 'confirm': return '1';
    case 'conflict': return '2';
    case 'other': return null; // "Thank you, …", "nothing free on …": the question follows
    case 'slot': return n === 1 ? '1' : pick(1, n - 1);
    case 'day': return pick(2, n); // today may be nearly over
    case 'specialty': return pick(1, n);
  }
}

class Visitor {
  private ws!: WebSocket;
  private sentAt = 0;
  private awaiting = false;
  private lastSend = 0;
  private stallTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  /** The step of the message in flight, and of the next one. */
  private step = 'hello';
  private nextStep = 'hello';

  constructor(private readonly run: Run, private readonly index: number) {}

  get identity() {
    const n = (this.run.cfg.runId * 10_000 + this.index) % 10_000_000;
    // Names are letters only (a digit makes it "not a name"): visitor 12 is "Bench Visitor Bc".
    const letters = String(this.index).replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!);
    return { name: `Bench Visitor ${letters[0]!.toUpperCase()}${letters.slice(1)}`, phone: `+34 6${String(n).padStart(8, '0').replace(/(\d{2})(\d{3})(\d{3})/, '$1 $2 $3')}` };
  }

  async connect(): Promise<void> {
    const params = new URLSearchParams({ org: this.run.cfg.org });
    this.ws = new WebSocket(`${this.run.cfg.url.replace(/^http/, 'ws')}/chat?${params}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      this.ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as Frame;
        if (frame.type === 'session') resolve();
        else this.onFrame(frame);
      });
      this.ws.once('error', reject);
      this.ws.once('close', (code) => reject(new Error(`closed ${code} before the session`)));
    });
  }

  /**
   * The first message of the conversation, at a random moment of the first 60% of the warm-up (at least within one
   * gap): visitors arrive over it, and the last ones are past their first turns (greeting, name, phone: a new
   * patient) before the measurement starts, since none arrive during it.
   */
  start(): void {
    const spread = Math.max(this.gap(), this.run.cfg.warmupSeconds * 600);
    setTimeout(() => this.send(this.run.cfg.mode === 'echo' ? 'ping 0' : 'hello'), Math.random() * spread);
  }

  close(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.ws.close();
  }

  private gap(): number {
    const paced = this.run.cfg.rate ? (this.run.cfg.clients / this.run.cfg.rate) * 1000 : 0;
    return Math.max(this.run.cfg.gapMs, paced);
  }

  /** This think time: the gap, varied. */
  private thinkTime(): number {
    const jitter = this.run.cfg.jitter ?? 0.15;
    return this.gap() * (1 - jitter + 2 * jitter * Math.random());
  }

  private send(text: string): void {
    if (this.run.stopping || this.ws.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    this.sentAt = now;
    this.step = this.nextStep;
    this.nextStep = 'hello';
    this.lastSend = now;
    this.awaiting = true;
    this.ws.send(JSON.stringify({ type: 'message', id: `b${this.index}-${++this.seq}`, text }));
    if (this.stallTimer) clearTimeout(this.stallTimer);
    // No reply that asks something within 30 s: say hello (the bot asks its question again).
    this.stallTimer = setTimeout(() => { this.run.stalls++; this.send('hello'); }, 30_000);
  }

  /** Answers after the visitor's think time since its last send. */
  private answer(text: string): void {
    const wait = Math.max(0, this.lastSend + this.thinkTime() - performance.now());
    if (wait === 0) this.send(text); else setTimeout(() => this.send(text), wait);
  }

  private onFrame(frame: Frame): void {
    if (frame.type === 'error') {
      this.run.errors++;
      if (frame.code === 'rate_limited') setTimeout(() => this.send('hello'), 1000);
      return;
    }
    if (frame.type !== 'message') return;
    if (this.awaiting) {
      this.awaiting = false;
      this.run.record(this.sentAt, performance.now(), this.step);
    }
    const text = frame.text ?? '';
    if (text.startsWith('Done! Your appointment is booked')) this.run.booked();
    if (text.startsWith('Sorry, that time was just taken')) this.run.conflicts++;
    if (text.startsWith("Sorry, I didn't understand")) this.run.misunderstood++;
    const next = this.run.cfg.mode === 'echo' ? `ping ${this.seq}` : bookingAnswer(frame, this.identity);
    if (next === null) return;
    this.nextStep = this.run.cfg.mode === 'echo' ? 'echo' : dialogueStep(frame);
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.answer(next);
  }
}

class Run {
  stopping = false;
  errors = 0;
  stalls = 0;
  conflicts = 0;
  misunderstood = 0;
  private latencies: number[] = [];
  private byStep = new Map<string, number[]>();
  private slow: number[] = [];
  private total = 0;
  private bookings = 0;
  private windowStart = Infinity;
  private windowEnd = Infinity;

  constructor(readonly cfg: ChatLoadConfig, private readonly onWindow?: (edge: 'start' | 'end') => void) {}

  record(sentAt: number, repliedAt: number, step: string): void {
    this.total++;
    if (!(sentAt >= this.windowStart && repliedAt < this.windowEnd)) return;
    const ms = repliedAt - sentAt;
    this.latencies.push(ms);
    const list = this.byStep.get(step);
    if (list) list.push(ms); else this.byStep.set(step, [ms]);
    if (ms > 60) this.slow.push(sentAt - this.windowStart);
  }

  booked(): void {
    const now = performance.now();
    if (now >= this.windowStart && now < this.windowEnd) this.bookings++;
  }

  async execute(): Promise<ChatLoadReport> {
    const visitors = Array.from({ length: this.cfg.clients }, (_, i) => new Visitor(this, i));
    // Sessions open before the clock starts, a batch at a time.
    for (let i = 0; i < visitors.length; i += 50) await Promise.all(visitors.slice(i, i + 50).map((v) => v.connect()));
    const t0 = performance.now();
    this.windowStart = t0 + this.cfg.warmupSeconds * 1000;
    this.windowEnd = this.windowStart + this.cfg.seconds * 1000;
    for (const v of visitors) v.start();
    const opening = setTimeout(() => this.onWindow?.('start'), this.windowStart - t0);
    await new Promise((r) => setTimeout(r, this.windowEnd - t0));
    clearTimeout(opening);
    this.onWindow?.('end');
    this.stopping = true;
    // Let the turns in flight finish, so the server is idle when the next pass starts.
    await new Promise((r) => setTimeout(r, 1500));
    for (const v of visitors) v.close();
    const round = (x: number) => Math.round(x * 10) / 10;
    const stats = (list: number[]) => {
      const s = list.sort((a, b) => a - b);
      const q = (f: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(f * s.length))]! : NaN);
      return { turns: s.length, p50: round(q(0.5)), p99: round(q(0.99)), max: round(s[s.length - 1] ?? NaN) };
    };
    const steps = Object.fromEntries([...this.byStep].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, stats(v)]));
    const slowBySecondHalf = Array.from({ length: Math.ceil(this.cfg.seconds * 2) }, () => 0);
    for (const t of this.slow) slowBySecondHalf[Math.min(slowBySecondHalf.length - 1, Math.floor(t / 500))]!++;
    const all = stats(this.latencies);
    return {
      ...all, turnsPerSec: round(all.turns / this.cfg.seconds), totalTurns: this.total, bookings: this.bookings, conflicts: this.conflicts,
      errors: this.errors, stalls: this.stalls, misunderstood: this.misunderstood, steps, slowBySecondHalf,
    };
  }
}

/** Runs the visitors; `onWindow` is told when the measured window opens and closes (the orchestrator samples CPU then). */
export function runChatLoad(cfg: ChatLoadConfig, onWindow?: (edge: 'start' | 'end') => void): Promise<ChatLoadReport> {
  return new Run(cfg, onWindow).execute();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ChatLoadConfig;
  runChatLoad(cfg, (edge) => process.stdout.write(`WINDOW ${edge}\n`)).then((report) => {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
  }, (err: unknown) => {
    process.stderr.write(`chat load failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
