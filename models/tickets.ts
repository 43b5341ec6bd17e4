/**
 * Staff tickets (PRM): raised by staff through the API or by the bot (emergency,
 * handoff, complaints), numbered per organization (1, 2, 3...), with comments
 * and a resolution.
 */
import type { Knex } from 'knex';
import type { QueryBuilder } from 'objection';
import { BaseModel, escapeLike, recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound, unprocessable } from '../lib/errors.js';
import { withTransaction } from './messages.js';
import { openText, sealColumns, sealText, sealedColumnsOf } from './encryption.js';

export const TICKET_CATEGORIES = ['billing', 'appointment', 'medical', 'technical', 'general', 'emergency', 'results', 'complaint'] as const;
export const TICKET_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export const TICKET_STATUSES = ['open', 'in_progress', 'resolved', 'closed'] as const;
export type TicketCategory = (typeof TICKET_CATEGORIES)[number];
export type TicketPriority = (typeof TICKET_PRIORITIES)[number];
export type TicketStatus = (typeof TICKET_STATUSES)[number];

export class Ticket extends BaseModel {
  static override tableName = 'tickets';
  id!: string;
  organization_id!: string;
  number!: number;
  patient_id!: string | null;
  conversation_id!: string | null;
  category!: TicketCategory;
  priority!: TicketPriority;
  status!: TicketStatus;
  title!: string;
  description!: string | null;
  assigned_to!: string | null;
  created_by!: string | null;
  source!: string;
  resolution!: string | null;
  resolved_by!: string | null;
  resolved_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
  /** Joined by getTicket / listTickets. */
  patient_name?: string | null;
  assigned_to_name?: string | null;
  comments_count?: number;

  /** The description (it may quote what the patient wrote) and the resolution are stored sealed (models/encryption.ts). */
  static override sealedColumns = sealedColumnsOf('tickets');
}

export class TicketComment extends BaseModel {
  static override tableName = 'ticket_comments';
  id!: string;
  organization_id!: string;
  ticket_id!: string;
  author_id!: string | null;
  author_type!: 'user' | 'patient' | 'system';
  content!: string;
  is_internal!: boolean;
  created_at!: Date;
  /** Joined by getTicket. */
  author_name?: string | null;

  /** Content is stored sealed (models/encryption.ts): opened with the key ring of the database it was read from. */
  static override sealedColumns = sealedColumnsOf('ticket_comments');
}

export type TicketWithComments = Ticket & { comments: TicketComment[] };

const USER_NAME = `nullif(trim(concat(u.first_name, ' ', u.last_name)), '')`;

function detailed(db: Db, orgId: string) {
  return Ticket.query(db).alias('t').where('t.organization_id', orgId)
    .select('t.*', 'p.name as patient_name', (db as Knex).raw(`${USER_NAME} as assigned_to_name`),
      (db as Knex).raw('(SELECT count(*) FROM ticket_comments c WHERE c.ticket_id = t.id)::int as comments_count'))
    .leftJoin('patients as p', 'p.id', 't.patient_id')
    .leftJoin('users as u', 'u.id', 't.assigned_to');
}

/** 422 naming `field` unless the referenced row belongs to the organization. */
async function assertInOrg(db: Db, table: 'users' | 'patients' | 'conversations', orgId: string, id: string, field: string): Promise<void> {
  const row = await (db as Knex)(table).where({ id, organization_id: orgId }).whereNull('deleted_at').first('id');
  if (!row) throw unprocessable(`${field}: no such ${table.slice(0, -1)} in this organization`, { field, fields: [{ field, message: 'not found in this organization' }] });
}

export interface CreateTicketInput {
  patientId?: string | null;
  conversationId?: string | null;
  category: TicketCategory;
  priority: TicketPriority;
  title: string;
  description?: string | null;
  assignedTo?: string | null;
  /** The user who created it, or null for the bot. */
  createdBy?: string | null;
  /** api | bot | voice | ... */
  source: string;
}

/**
 * Creates a ticket numbered one past the organization's last (serialized per
 * organization with an advisory transaction lock; runs in the caller's
 * transaction or its own). Referenced patient, conversation and assignee must
 * belong to the organization (422 naming the field). Event ticket.created.
 */
export async function createTicket(db: Db, scope: OrgScope, input: CreateTicketInput): Promise<Ticket> {
  const orgId = scope.organizationId;
  return withTransaction(db, async (trx) => {
    if (input.patientId) await assertInOrg(trx, 'patients', orgId, input.patientId, 'patient_id');
    if (input.conversationId) await assertInOrg(trx, 'conversations', orgId, input.conversationId, 'conversation_id');
    if (input.assignedTo) await assertInOrg(trx, 'users', orgId, input.assignedTo, 'assigned_to');
    await trx.raw(`SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, [`tickets:${orgId}`]);
    const [{ next }] = (await trx('tickets').where({ organization_id: orgId }).select(trx.raw('coalesce(max(number), 0) + 1 as next'))) as { next: number }[];
    const ticket = await Ticket.query(trx).insertAndFetch(sealColumns(trx, {
      id: newId('ticket'), organization_id: orgId, number: Number(next),
      patient_id: input.patientId ?? null, conversation_id: input.conversationId ?? null,
      category: input.category, priority: input.priority, status: 'open', title: input.title,
      description: input.description ?? null, assigned_to: input.assignedTo ?? null,
      created_by: input.createdBy ?? null, source: input.source,
    } as Partial<Ticket>, Ticket.sealedColumns));
    await recordEvent(trx, orgId, 'ticket.created', ticket.id, {
      ticket_id: ticket.id, number: ticket.number, category: ticket.category, priority: ticket.priority,
      patient_id: ticket.patient_id, conversation_id: ticket.conversation_id, source: ticket.source,
    }, newId('event'));
    return ticket;
  });
}

/** A ticket with patient and assignee names, comment count and comments (oldest first, with author names). 404 for another org's. */
export async function getTicket(db: Db, scope: OrgScope, id: string): Promise<TicketWithComments> {
  const ticket = await detailed(db, scope.organizationId).where('t.id', id).first();
  if (!ticket) throw notFound('Ticket');
  const comments = await TicketComment.query(db).alias('c').where('c.ticket_id', id).where('c.organization_id', scope.organizationId)
    .select('c.*', (db as Knex).raw(`CASE WHEN c.author_type = 'patient' THEN p.name ELSE ${USER_NAME} END as author_name`))
    .leftJoin('users as u', (j) => j.on('u.id', 'c.author_id').andOnVal('c.author_type', 'user'))
    .leftJoin('patients as p', (j) => j.on('p.id', 'c.author_id').andOnVal('c.author_type', 'patient'))
    .orderBy('c.created_at', 'asc').orderBy('c.id', 'asc');
  return Object.assign(ticket, { comments });
}

export interface ListTicketsInput {
  page: number;
  limit: number;
  patientId?: string;
  conversationId?: string;
  category?: TicketCategory;
  priority?: TicketPriority;
  status?: TicketStatus;
  assignedTo?: string;
  /** Matches title or description, case-insensitively. */
  search?: string;
  sort: [string, 'asc' | 'desc'];
}

/**
 * The ids among `candidates` whose description contains `search`, case
 * insensitively. Descriptions are sealed, so SQL cannot match them: they are
 * read as plain rows, opened and matched here, one column of the
 * organization's filtered tickets (a clinic has thousands, not millions).
 */
async function ticketsDescribing(db: Db, candidates: QueryBuilder<Ticket>, search: string): Promise<string[]> {
  const needle = search.toLowerCase();
  // Plain rows, not models: thousands of them are read only to be matched.
  const rows = (await candidates.clearSelect().clearOrder().whereNotNull('t.description').select('t.id', 't.description').toKnexQuery()) as { id: string; description: string }[];
  return rows.filter((r) => openText(db, r.description).toLowerCase().includes(needle)).map((r) => r.id);
}

export const TICKET_SORTS = ['created_at', 'updated_at', 'number', 'priority', 'status'] as const;

/** Tickets of the organization, filtered (PRM filters + conversation and search) and paginated. */
export async function listTickets(db: Db, scope: OrgScope, input: ListTicketsInput): Promise<{ rows: Ticket[]; total: number }> {
  const q = Ticket.query(db).alias('t').where('t.organization_id', scope.organizationId);
  if (input.patientId) q.where('t.patient_id', input.patientId);
  if (input.conversationId) q.where('t.conversation_id', input.conversationId);
  if (input.category) q.where('t.category', input.category);
  if (input.priority) q.where('t.priority', input.priority);
  if (input.status) q.where('t.status', input.status);
  if (input.assignedTo) q.where('t.assigned_to', input.assignedTo);
  if (input.search) {
    const term = `%${escapeLike(input.search)}%`;
    const inDescription = await ticketsDescribing(db, q.clone().whereNot('t.title', 'ilike', term), input.search);
    q.where((w) => w.where('t.title', 'ilike', term).orWhereIn('t.id', inDescription));
  }
  const [{ count }] = (await q.clone().count('* as count')) as unknown as { count: number }[];
  const [field, dir] = input.sort;
  // Priority sorts by urgency, not alphabetically.
  const order = field === 'priority' ? `array_position(ARRAY['low','medium','high','urgent'], t.priority) ${dir}` : `t.${field} ${dir}`;
  const k = db as Knex;
  const rows = await q.select('t.*', 'p.name as patient_name', k.raw(`${USER_NAME} as assigned_to_name`),
    k.raw('(SELECT count(*) FROM ticket_comments c WHERE c.ticket_id = t.id)::int as comments_count'))
    .leftJoin('patients as p', 'p.id', 't.patient_id')
    .leftJoin('users as u', 'u.id', 't.assigned_to')
    .orderByRaw(`${order}, t.number ${dir}`).limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

export interface UpdateTicketInput {
  status?: TicketStatus;
  priority?: TicketPriority;
  category?: TicketCategory;
  title?: string;
  description?: string | null;
  assignedTo?: string | null;
  /** The user making the change (resolved_by when status becomes resolved). */
  byUserId?: string | null;
  now?: Date;
}

/**
 * Changes status, priority, category, title, description or assignee (must be
 * an org user: 422). A closed ticket cannot change (409). Moving to resolved
 * stamps resolved_at/resolved_by; reopening clears them. Event ticket.updated
 * (and ticket.resolved when it becomes resolved).
 */
export async function updateTicket(db: Db, scope: OrgScope, id: string, input: UpdateTicketInput): Promise<Ticket> {
  return withTransaction(db, async (trx) => {
    const ticket = await Ticket.query(trx).where({ id, organization_id: scope.organizationId }).forUpdate().first();
    if (!ticket) throw notFound('Ticket');
    if (ticket.status === 'closed') throw conflict('A closed ticket cannot be changed', { status: ticket.status });
    if (input.assignedTo) await assertInOrg(trx, 'users', scope.organizationId, input.assignedTo, 'assigned_to');
    const now = input.now ?? new Date();
    const patch: Partial<Ticket> = { updated_at: now };
    const fields: string[] = [];
    for (const [key, column] of [['status', 'status'], ['priority', 'priority'], ['category', 'category'], ['title', 'title'], ['description', 'description'], ['assignedTo', 'assigned_to']] as const) {
      if (input[key] !== undefined) {
        (patch as Record<string, unknown>)[column] = input[key];
        fields.push(column);
      }
    }
    sealColumns(trx, patch, Ticket.sealedColumns);
    const resolving = input.status === 'resolved' && ticket.status !== 'resolved';
    if (resolving) Object.assign(patch, { resolved_at: now, resolved_by: input.byUserId ?? null });
    if (input.status && (input.status === 'open' || input.status === 'in_progress')) Object.assign(patch, { resolved_at: null, resolved_by: null });
    const updated = await ticket.$query(trx).patchAndFetch(patch);
    await recordEvent(trx, scope.organizationId, 'ticket.updated', id, { ticket_id: id, fields, status: updated.status, assigned_to: updated.assigned_to }, newId('event'));
    if (resolving) await recordEvent(trx, scope.organizationId, 'ticket.resolved', id, { ticket_id: id, resolution: updated.resolution }, newId('event'));
    return updated;
  });
}

export interface AddCommentInput {
  content: string;
  authorId?: string | null;
  authorType?: 'user' | 'patient' | 'system';
  isInternal?: boolean;
}

/** Adds a comment (event ticket.comment_added) and touches the ticket's updated_at. 404 for another org's ticket. */
export async function addTicketComment(db: Db, scope: OrgScope, ticketId: string, input: AddCommentInput): Promise<TicketComment> {
  return withTransaction(db, async (trx) => {
    const n = await trx('tickets').where({ id: ticketId, organization_id: scope.organizationId }).update({ updated_at: trx.fn.now() });
    if (n === 0) throw notFound('Ticket');
    const comment = await TicketComment.query(trx).insertAndFetch({
      id: newId('ticketComment'), organization_id: scope.organizationId, ticket_id: ticketId,
      author_id: input.authorId ?? null, author_type: input.authorType ?? 'user', content: sealText(trx, input.content), is_internal: input.isInternal ?? false,
    } as Partial<TicketComment>);
    await recordEvent(trx, scope.organizationId, 'ticket.comment_added', ticketId, {
      ticket_id: ticketId, comment_id: comment.id, author_id: comment.author_id, is_internal: comment.is_internal,
    }, newId('event'));
    return comment;
  });
}

/** Resolves the ticket with a resolution text (resolved_at, resolved_by; event ticket.resolved). 409 when already resolved or closed. */
export async function resolveTicket(db: Db, scope: OrgScope, id: string, input: { resolution: string; byUserId?: string | null; now?: Date }): Promise<Ticket> {
  return withTransaction(db, async (trx) => {
    const ticket = await Ticket.query(trx).where({ id, organization_id: scope.organizationId }).forUpdate().first();
    if (!ticket) throw notFound('Ticket');
    if (ticket.status === 'resolved' || ticket.status === 'closed') throw conflict(`The ticket is already ${ticket.status}`, { status: ticket.status });
    const now = input.now ?? new Date();
    const updated = await ticket.$query(trx).patchAndFetch(sealColumns(trx, { status: 'resolved', resolution: input.resolution, resolved_at: now, resolved_by: input.byUserId ?? null, updated_at: now }, Ticket.sealedColumns));
    await recordEvent(trx, scope.organizationId, 'ticket.resolved', id, { ticket_id: id, resolution: input.resolution, resolved_by: updated.resolved_by }, newId('event'));
    return updated;
  });
}
