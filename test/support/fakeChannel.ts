/**
 * An in-process ChannelAdapter standing in for a provider outside the machine:
 * records every send, and can be told to fail (unreachable) or refuse.
 */
import {
  ProviderRefusedError, ProviderUnreachableError,
  type ChannelAdapter, type ChannelCapabilities, type ChannelHealth, type ChannelName, type OutboundMessage, type SendResult,
} from '../../channels/types.js';

export type FakeFailure = 'unreachable' | 'refused' | 'refused_retryable';

export interface FakeChannelOptions {
  name?: ChannelName;
  capabilities?: Partial<ChannelCapabilities>;
  enabled?: boolean;
  ratePerSecond?: number;
  /** Answer 'delivered' at once (like web chat). */
  deliveredAtOnce?: boolean;
  /** Milliseconds each send takes. */
  latencyMs?: number;
}

export class FakeChannel implements ChannelAdapter {
  readonly name: ChannelName;
  readonly capabilities: ChannelCapabilities;
  enabled: boolean;
  readonly ratePerSecond?: number;
  /** Every accepted send, in order, with the provider id it got. */
  readonly sent: (OutboundMessage & { providerMessageId: string; at: number })[] = [];
  /** Every call to send, accepted or not. */
  calls = 0;
  private failures: FakeFailure[] = [];
  private failAll: FakeFailure | null = null;
  private failRule: ((msg: OutboundMessage, call: number) => FakeFailure | null) | null = null;
  private counter = 0;
  private readonly instance = Math.random().toString(36).slice(2, 10);
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly opts: FakeChannelOptions = {}) {
    this.name = opts.name ?? 'telegram';
    this.capabilities = { buttons: true, media: false, maxTextLength: 4096, ...opts.capabilities };
    this.enabled = opts.enabled ?? true;
    this.ratePerSecond = opts.ratePerSecond;
  }

  /** The next `times` sends fail this way. */
  failNext(kind: FakeFailure, times = 1): this {
    for (let i = 0; i < times; i++) this.failures.push(kind);
    return this;
  }

  /** Every send fails this way until `failAlways(null)`. */
  failAlways(kind: FakeFailure | null): this {
    this.failAll = kind;
    return this;
  }

  /** Decide per call (1-based call number) whether it fails. */
  failWhen(rule: ((msg: OutboundMessage, call: number) => FakeFailure | null) | null): this {
    this.failRule = rule;
    return this;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async send(msg: OutboundMessage): Promise<SendResult> {
    this.calls++;
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    const failure = this.failures.shift() ?? this.failRule?.(msg, this.calls) ?? this.failAll;
    if (failure === 'unreachable') throw new ProviderUnreachableError('connect ECONNREFUSED 127.0.0.1:9');
    if (failure === 'refused') throw new ProviderRefusedError('The number is not reachable on this channel', '21211');
    if (failure === 'refused_retryable') throw new ProviderRefusedError('Too many requests', '20429', true);
    const providerMessageId = `fake-${this.name}-${this.instance}-${++this.counter}`;
    this.sent.push({ ...msg, providerMessageId, at: Date.now() });
    for (const w of this.waiters.filter((x) => this.sent.length >= x.n)) w.resolve();
    this.waiters = this.waiters.filter((x) => this.sent.length < x.n);
    return { providerMessageId, ...(this.opts.deliveredAtOnce ? { status: 'delivered' as const } : {}) };
  }

  /** Resolves once `n` sends were accepted; rejects after `timeoutMs`. */
  waitForSends(n: number, timeoutMs = 5000): Promise<void> {
    if (this.sent.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`FakeChannel ${this.name}: expected ${n} sends, got ${this.sent.length}`)), timeoutMs);
      this.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  health(): ChannelHealth {
    return { name: this.name, enabled: this.enabled, status: this.enabled ? 'up' : 'off' };
  }
}
