/**
 * A remembered pure function of a string key, for the date and time
 * formatting the bot repeats on every turn (luxon's zone math costs more than
 * the rest of a turn's logic). Bounded: cleared when it reaches `max` keys.
 */
export function memoByKey<V>(max: number, compute: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    const hit = cache.get(key);
    if (hit !== undefined || cache.has(key)) return hit as V;
    const value = compute(key);
    if (cache.size >= max) cache.clear();
    cache.set(key, value);
    return value;
  };
}
