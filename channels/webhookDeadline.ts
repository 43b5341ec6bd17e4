/**
 * Provider webhooks (Twilio, Meta, Telegram) redeliver what gets no 2xx in
 * time. A webhook answers once the turn is done, or `ms` after its message was
 * stored, whichever comes first; a turn still going then finishes on its own,
 * and a later failure is logged. Nothing is answered before the message is
 * stored: a 2xx then would lose it to a store that fails later (a database
 * slow enough to pass the deadline), since the provider would not send it
 * again. A failure before the deadline is thrown (the provider redelivers).
 */
import type { Logger } from '../lib/logger.js';

/** `stored` settles once `mark` is called: pass `mark` as the inbound message's onStored, `stored` to answerWithin. */
export function storedSignal(): { stored: Promise<void>; mark: () => void } {
  let mark!: () => void;
  const stored = new Promise<void>((resolve) => { mark = resolve; });
  return { stored, mark };
}

export async function answerWithin(work: Promise<unknown>, ms: number, logger: Logger, lateFailure: string, stored: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let answered = false;
  const late = stored.then(() => new Promise<'late'>((resolve) => {
    if (!answered) timer = setTimeout(() => resolve('late'), ms);
  }));
  try {
    const outcome = await Promise.race([work, late]);
    if (outcome === 'late') work.catch((err: unknown) => logger.error({ err: { message: (err as Error).message } }, lateFailure));
  } finally {
    answered = true;
    clearTimeout(timer);
  }
}
