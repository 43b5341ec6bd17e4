/**
 * Provider webhooks (Twilio, Meta, Telegram) redeliver what gets no 2xx in
 * time. An inbound turn is stored in its first statement, so the webhook may
 * answer once the turn is done or after `ms`, whichever comes first; a turn
 * still going then finishes on its own, and a later failure is logged.
 * A failure before the deadline is thrown (the provider redelivers).
 */
import type { Logger } from '../lib/logger.js';

export async function answerWithin(work: Promise<unknown>, ms: number, logger: Logger, lateFailure: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
  try {
    const outcome = await Promise.race([work, late]);
    if (outcome === 'late') work.catch((err: unknown) => logger.error({ err: { message: (err as Error).message } }, lateFailure));
  } finally {
    clearTimeout(timer);
  }
}
