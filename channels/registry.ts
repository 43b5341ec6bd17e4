/**
 * The typed registry of channel adapters by name: every send goes through it
 * (the dispatcher looks the adapter up here), and /channels reads its health.
 */
import type { ChannelAdapter, ChannelHealth, ChannelName } from './types.js';

export class ChannelRegistry {
  private readonly adapters = new Map<ChannelName, ChannelAdapter>();

  constructor(adapters: ChannelAdapter[] = []) {
    for (const a of adapters) this.register(a);
  }

  /** Adds an adapter; one per channel name. */
  register(adapter: ChannelAdapter): this {
    if (this.adapters.has(adapter.name)) throw new Error(`channel ${adapter.name} is already registered`);
    this.adapters.set(adapter.name, adapter);
    return this;
  }

  /** The adapter for a channel name (any string: stored rows carry plain text), or undefined. */
  get(name: string): ChannelAdapter | undefined {
    return this.adapters.get(name as ChannelName);
  }

  has(name: string): boolean {
    return this.adapters.has(name as ChannelName);
  }

  /** Every registered channel name, enabled or not. */
  names(): ChannelName[] {
    return [...this.adapters.keys()];
  }

  list(): ChannelAdapter[] {
    return [...this.adapters.values()];
  }

  health(): ChannelHealth[] {
    return this.list().map((a) => a.health());
  }

  /** Starts the enabled adapters (a disabled one stays off and says so in health()). */
  async startAll(): Promise<void> {
    for (const a of this.list()) if (a.enabled) await a.start();
  }

  async stopAll(): Promise<void> {
    for (const a of this.list().reverse()) await a.stop().catch(() => undefined);
  }
}
