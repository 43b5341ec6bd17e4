/**
 * Web chat sessions and the few queries the web chat channel needs: a visitor's
 * browser keeps a random token (we store only its SHA-256), the session id is
 * the conversation's channel_address, and outbound rows are read back to push
 * or replay them.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from './base.js';
import { newId } from '../lib/ids.js';
import { conversationCreatedData, findOrCreateOpenConversation } from './conversations.js';
import { openText, sealEventData } from './encryption.js';

export const WEBCHAT_CHANNEL = 'webchat';

export interface WebchatSession {
  id: string;
  organization_id: string;
  conversation_id: string | null;
  patient_id: string | null;
  created_at: Date;
  last_seen_at: Date;
}

export interface OpenedSession {
  session: WebchatSession;
  /** The clear token: handed to the visitor once per connection, never stored or logged. */
  token: string;
  conversationId: string;
  /** True when the visitor's token matched an existing session. */
  resumed: boolean;
}

export interface StoredOutbound {
  id: string;
  organization_id: string;
  conversation_id: string;
  to_address: string | null;
  sender: 'assistant' | 'staff' | 'system';
  content: string;
  options: { value: string; label: string }[] | null;
  created_at: Date;
  /** metadata.media only: a voice message's audio (its `content` is then the URL), for outboundMediaOf. */
  media: unknown;
}

const SESSION_COLUMNS = ['id', 'organization_id', 'conversation_id', 'patient_id', 'created_at', 'last_seen_at'];
const OUTBOUND_COLUMNS = ['id', 'organization_id', 'conversation_id', 'to_address', 'sender', 'content', 'options', 'created_at'];
// Not the whole metadata: the replay needs only a voice message's audio.
const MEDIA_COLUMN = "metadata->'media' as media";
// Statuses a visitor may see: a queued row is shown early rather than late (the socket drops the later live copy).
const VISIBLE_STATUSES = ['queued', 'sending', 'sent', 'delivered', 'read'];

const q = (db: Db) => db as Knex;

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A session id that sorts by creation time like every other public id. */
function newSessionId(): string {
  return `wcs_${newId('conversation').slice('conv_'.length)}`;
}

export async function organizationExists(db: Db, orgId: string): Promise<boolean> {
  const row = await q(db)('organizations').where({ id: orgId }).first('id');
  return Boolean(row);
}

export interface OpenSessionInput {
  organizationId: string;
  /** The token the visitor kept; missing, unknown or another organization's starts a new session. */
  token?: string | null;
  /** A conversation silent this long is closed and a new one opened (as the engine does on inbound). */
  idleMinutes: number;
  now: Date;
}

const isIdle = (lastMessageAt: Date, input: OpenSessionInput) => input.now.getTime() - new Date(lastMessageAt).getTime() > input.idleMinutes * 60_000;

/**
 * Resumes the session a valid token names, or starts a new one; either way the
 * session ends up bound to an open conversation (a closed one is replaced).
 */
export async function openWebchatSession(knex: Knex, input: OpenSessionInput): Promise<OpenedSession> {
  return knex.transaction(async (trx) => {
    let session: WebchatSession | undefined;
    let token = input.token ?? '';
    if (token) {
      session = (await trx('webchat_sessions')
        .where({ token_hash: hashSessionToken(token), organization_id: input.organizationId })
        .first(SESSION_COLUMNS)) as WebchatSession | undefined;
    }
    const resumed = Boolean(session);
    if (!session) {
      token = randomBytes(32).toString('base64url');
      [session] = (await trx('webchat_sessions')
        .insert({ id: newSessionId(), organization_id: input.organizationId, token_hash: hashSessionToken(token), created_at: input.now, last_seen_at: input.now })
        .returning(SESSION_COLUMNS)) as WebchatSession[];
    }
    const current = session!.conversation_id
      ? await trx('conversations').where({ id: session!.conversation_id }).first('id', 'status', 'deleted_at', 'patient_id', 'last_message_at')
      : undefined;
    let conversationId: string;
    if (current && current.status !== 'closed' && !current.deleted_at && !isIdle(current.last_message_at as Date, input)) {
      conversationId = current.id as string;
    } else {
      const patientId = session!.patient_id ?? (current?.patient_id as string | null | undefined) ?? null;
      const conversation = await findOrCreateOpenConversation(trx, { organizationId: input.organizationId }, {
        channel: WEBCHAT_CHANNEL, address: session!.id, patientId, idleMinutes: input.idleMinutes, now: input.now,
      });
      conversationId = conversation.id;
    }
    const [updated] = (await trx('webchat_sessions')
      .where({ id: session!.id })
      .update({ conversation_id: conversationId, last_seen_at: input.now })
      .returning(SESSION_COLUMNS)) as WebchatSession[];
    return { session: updated, token, conversationId, resumed };
  });
}

/**
 * A new visitor's session and its conversation, in one statement: the
 * organization checked, the session, the conversation (its address is the new
 * session's id, so no conversation of that address can exist, open or closed)
 * and the conversation.created event. Null when the organization does not
 * exist. openWebchatSession does the same in a transaction of six statements;
 * every visitor of a clinic's site opens one, so this path is kept short.
 */
export async function startWebchatSession(knex: Knex, input: { organizationId: string; now: Date }): Promise<OpenedSession | null> {
  const token = randomBytes(32).toString('base64url');
  const sessionId = newSessionId();
  const conversationId = newId('conversation');
  const event = sealEventData(knex, conversationCreatedData(conversationId, null, WEBCHAT_CHANNEL));
  const result = (await knex.raw(
    `WITH org AS (
       SELECT id FROM organizations WHERE id = ?
     ), conv AS (
       INSERT INTO conversations (id, organization_id, channel, channel_address, status, last_message_at, created_at, updated_at)
       SELECT ?, org.id, ?, ?, 'bot', ?::timestamptz, ?::timestamptz, ?::timestamptz FROM org
       RETURNING id, organization_id
     ), ev AS (
       INSERT INTO events (id, organization_id, event, subject_id, data)
       SELECT ?, conv.organization_id, 'conversation.created', conv.id, ?::jsonb FROM conv
     )
     INSERT INTO webchat_sessions (id, organization_id, token_hash, conversation_id, created_at, last_seen_at)
     SELECT ?, conv.organization_id, ?, conv.id, ?::timestamptz, ?::timestamptz FROM conv
     RETURNING ${SESSION_COLUMNS.join(', ')}`,
    [input.organizationId,
      conversationId, WEBCHAT_CHANNEL, sessionId, input.now, input.now, input.now,
      newId('event'), JSON.stringify(event),
      sessionId, hashSessionToken(token), input.now, input.now],
  )) as { rows: WebchatSession[] };
  const session = result.rows[0];
  return session ? { session, token, conversationId, resumed: false } : null;
}

export async function touchWebchatSession(db: Db, sessionId: string, now: Date): Promise<void> {
  await q(db)('webchat_sessions').where({ id: sessionId }).update({ last_seen_at: now });
}

/** Binds the session to the conversation the engine stored a message in (it may have opened a new one). */
export async function bindSessionConversation(db: Db, sessionId: string, conversationId: string): Promise<void> {
  await q(db)('webchat_sessions').where({ id: sessionId }).update({ conversation_id: conversationId });
}

/** Outbound messages of a conversation created after `afterId` (ids sort by time), oldest first. */
export async function listOutboundAfter(db: Db, orgId: string, conversationId: string, afterId: string, now: Date, limit = 500): Promise<StoredOutbound[]> {
  return q(db)('messages')
    .where({ organization_id: orgId, conversation_id: conversationId, direction: 'outbound' })
    .where('id', '>', afterId)
    .whereIn('status', VISIBLE_STATUSES)
    // A row scheduled for later (a reminder) is not shown before its time.
    .where((w) => w.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', now).orWhereNot('status', 'queued'))
    .orderBy('id')
    .limit(limit)
    .select([...OUTBOUND_COLUMNS, q(db).raw(MEDIA_COLUMN)])
    .then((rows: StoredOutbound[]) => rows.map((r) => ({ ...r, content: openText(db, r.content) })));
}

/** One outbound row, or undefined when it is not an outbound message of that conversation. */
export async function loadOutboundMessage(db: Db, conversationId: string, messageId: string): Promise<StoredOutbound | undefined> {
  return q(db)('messages')
    .where({ id: messageId, conversation_id: conversationId, direction: 'outbound' })
    .first([...OUTBOUND_COLUMNS, q(db).raw(MEDIA_COLUMN)])
    .then((row: StoredOutbound | undefined) => (row ? { ...row, content: openText(db, row.content) } : undefined));
}
