/**
 * The phone audio of the catalog's voice lines (the greeting, "For Cardiology,
 * say it or press 2", goodbye), synthesized once and kept for every call: they
 * are the same for every caller, and each is a second of waiting saved. Only
 * those lines: a reply with a patient's name or appointment is never kept.
 * Least recently used first out; a failed synthesis is not kept.
 */
export class SpeechCache {
  private readonly entries = new Map<string, Promise<Buffer | null>>();

  constructor(private readonly maxEntries = 256) {}

  get(text: string, synthesize: () => Promise<Buffer | null>): Promise<Buffer | null> {
    const hit = this.entries.get(text);
    if (hit) {
      this.entries.delete(text);
      this.entries.set(text, hit);
      return hit;
    }
    const pending = synthesize().then((audio) => {
      if (!audio) this.entries.delete(text);
      return audio;
    }, (err: unknown) => {
      this.entries.delete(text);
      throw err;
    });
    this.entries.set(text, pending);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return pending;
  }

  get size(): number {
    return this.entries.size;
  }
}
