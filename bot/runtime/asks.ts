/**
 * The phone question across turns. The reply that asks for the phone carries
 * `ask` in its metadata (queueReply); the first reply after the answer that
 * can carry a closing carries `ask_closed`, so a channel that showed a
 * share-my-number control (Telegram's contact keyboard) removes it. A reply
 * with options of its own cannot (its buttons take the channel's one control),
 * so the closing waits for the next reply without. Whether the question is
 * still open between turns is kept in the dialogue state, not in an instance's
 * memory: whichever instance plays the next turn closes it, and a staff
 * reply closes it while staff hold the conversation (queueStaffReply).
 */
import type { QueueOutboundInput } from '../../models/messages.js';

/**
 * Marks this turn's replies, given whether the phone question was open before
 * them; returns whether it is open after them.
 */
export function markAskReplies(replies: QueueOutboundInput[], openBefore: boolean): boolean {
  let open = openBefore;
  for (const reply of replies) {
    if (reply.metadata?.ask) {
      open = true;
    } else if (open && !reply.options?.length) {
      reply.metadata = { ...reply.metadata, ask_closed: 'phone' };
      open = false;
    }
  }
  return open;
}
