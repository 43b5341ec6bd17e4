/** An injectable clock so tests can move time without sleeping. */
export interface Clock { now(): Date }
export const systemClock: Clock = { now: () => new Date() };
export function fixedClock(start: Date): Clock & { set(d: Date): void; advance(ms: number): void } {
  let t = start.getTime();
  return { now: () => new Date(t), set: (d) => { t = d.getTime(); }, advance: (ms) => { t += ms; } };
}
