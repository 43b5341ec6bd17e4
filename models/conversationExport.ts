/**
 * Reads for conversation exports: one conversation with everything a
 * transcript needs, and the organization-wide export as a sequence of events
 * read in bounded batches (keyset pagination), so a caller can stream it
 * without ever holding the whole export. No transaction is held between
 * batches: the caller may wait on a slow client between two reads (PGlite
 * has a single connection). Voice messages come with their transcriptions
 * (attachTranscriptions).
 */
import type { Knex } from 'knex';
import type { Db, OrgScope } from './base.js';
import { filteredConversations, getConversation, type Conversation, type ConversationFilter } from './conversations.js';
import { listConversationMessages, Message } from './messages.js';
import { getOrganization } from './organizations.js';
import { attachTranscriptions } from './mediaFiles.js';

export interface ConversationExport {
  organization: { id: string; name: string; time_zone: string };
  conversation: Conversation;
  /** Oldest first. */
  messages: Message[];
}

/** One live conversation of the organization with its messages and the organization's name and time zone; 404 otherwise. */
export async function loadConversationExport(db: Db, scope: OrgScope, id: string): Promise<ConversationExport> {
  const conversation = await getConversation(db, scope, id);
  const messages = await listConversationMessages(db, scope, id);
  await attachTranscriptions(db, scope, messages);
  const org = await getOrganization(db, scope.organizationId);
  return { organization: { id: org.id, name: org.name, time_zone: org.time_zone }, conversation, messages };
}

export interface ExportBatchOptions {
  /** Conversations read per query. */
  batchSize: number;
  /** Messages read per query (across the conversations of a batch). */
  messagePageSize: number;
}

/** What the export yields, in order: for each conversation, start, its messages in pages (oldest first), end. */
export type ConversationExportEvent =
  | { type: 'start'; conversation: Conversation }
  | { type: 'messages'; conversation: Conversation; messages: Message[] }
  | { type: 'end'; conversation: Conversation };

/**
 * The organization's live conversations matching the filter, oldest first
 * (created_at, id), each followed by its messages. Reads `batchSize`
 * conversations at a time, then their messages `messagePageSize` at a time.
 * Stopping the iteration (return(), a destroyed stream) stops the reads.
 */
export async function* conversationExportEvents(db: Db, scope: OrgScope, filter: ConversationFilter, opts: ExportBatchOptions): AsyncGenerator<ConversationExportEvent> {
  // Cursors are kept as the database's text of the timestamp: a JS Date would drop the microseconds and repeat rows.
  let after: { createdAt: string; id: string } | null = null;
  for (;;) {
    const q = filteredConversations(db, scope, filter)
      .select('conversations.*', 'patients.name as patient_name', (db as Knex).raw('conversations.created_at::text AS export_cursor'))
      .leftJoin('patients', 'patients.id', 'conversations.patient_id')
      .orderBy('conversations.created_at', 'asc').orderBy('conversations.id', 'asc')
      .limit(opts.batchSize);
    if (after) q.whereRaw('(conversations.created_at, conversations.id) > (?::timestamptz, ?)', [after.createdAt, after.id]);
    const batch = (await q) as Array<Conversation & { export_cursor: string }>;
    if (batch.length === 0) return;
    yield* batchEvents(db, scope, batch, opts.messagePageSize);
    if (batch.length < opts.batchSize) return;
    const last = batch[batch.length - 1]!;
    after = { createdAt: last.export_cursor, id: last.id };
  }
}

type PagedMessage = Message & { export_position: number; export_cursor: string };

/** The events of one batch of conversations: their messages are read in pages, in the batch's order. */
async function* batchEvents(db: Db, scope: OrgScope, batch: Conversation[], pageSize: number): AsyncGenerator<ConversationExportEvent> {
  const ids = batch.map((c) => c.id);
  let started = 0; // conversations of the batch started so far
  let after: { position: number; createdAt: string; id: string } | null = null;
  for (;;) {
    const page = await messagesPage(db, scope, ids, after, pageSize);
    let i = 0;
    while (i < page.length) {
      const position = page[i]!.export_position; // 1-based, as array_position
      let j = i;
      while (j < page.length && page[j]!.export_position === position) j++;
      // Start (and end) every conversation up to this one: those between have no messages.
      while (started < position) {
        if (started > 0) yield { type: 'end', conversation: batch[started - 1]! };
        yield { type: 'start', conversation: batch[started]! };
        started++;
      }
      yield { type: 'messages', conversation: batch[position - 1]!, messages: page.slice(i, j) };
      i = j;
    }
    if (page.length < pageSize) break;
    const last = page[page.length - 1]!;
    after = { position: last.export_position, createdAt: last.export_cursor, id: last.id };
  }
  while (started < batch.length) {
    if (started > 0) yield { type: 'end', conversation: batch[started - 1]! };
    yield { type: 'start', conversation: batch[started]! };
    started++;
  }
  yield { type: 'end', conversation: batch[batch.length - 1]! };
}

/** Up to `limit` messages of the given conversations, ordered by the conversations' order in `ids`, then oldest first. */
async function messagesPage(db: Db, scope: OrgScope, ids: string[], after: { position: number; createdAt: string; id: string } | null, limit: number): Promise<PagedMessage[]> {
  const k = db as Knex;
  const q = Message.query(db)
    .select('messages.*', k.raw('array_position(?::text[], messages.conversation_id) AS export_position', [ids]),
      k.raw('messages.created_at::text AS export_cursor'))
    .where('messages.organization_id', scope.organizationId)
    .whereRaw('messages.conversation_id = ANY(?::text[])', [ids])
    .orderByRaw('array_position(?::text[], messages.conversation_id), messages.created_at, messages.id', [ids])
    .limit(limit);
  if (after) {
    q.whereRaw('(array_position(?::text[], messages.conversation_id), messages.created_at, messages.id) > (?, ?::timestamptz, ?)',
      [ids, after.position, after.createdAt, after.id]);
  }
  const page = (await q) as PagedMessage[];
  await attachTranscriptions(db, scope, page);
  return page;
}
