/**
 * An organization's webhook subscriptions: where to POST which events, and
 * the secret their signature is made with. Deliveries are queued by the
 * database when an event is recorded (migration 012) and sent by
 * schedulers/webhookDeliveries.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { fn } from 'objection';
import { BaseModel, recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { notFound, validationError } from '../lib/errors.js';

/** The events an integrator can subscribe to (API.md, "Webhooks out"). */
export const WEBHOOK_EVENTS = [
  'patient.created', 'patient.updated', 'patient.deleted',
  'appointment.created', 'appointment.updated', 'appointment.cancelled', 'appointment.confirmed', 'appointment.completed', 'appointment.no_show',
  'conversation.created', 'conversation.escalated', 'conversation.closed',
  'communication.sent', 'communication.delivered', 'communication.failed',
  'ticket.created', 'ticket.updated', 'ticket.resolved', 'ticket.comment_added',
  'call.completed',
  'webhook.disabled',
] as const;

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Sent by POST /webhooks/:id/test only, to that webhook only. */
export const TEST_EVENT = 'webhook.test';

/** Recorded when a webhook is disabled automatically (models/webhookHealth.ts); never sent to that webhook. */
export const WEBHOOK_DISABLED_EVENT = 'webhook.disabled';

/** disabled: nothing is queued for it and what is queued waits; set by an admin, or automatically (webhookHealth.ts). */
export const WEBHOOK_STATUSES = ['active', 'disabled'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export class Webhook extends BaseModel {
  static override tableName = 'webhooks';
  id!: string;
  organization_id!: string;
  url!: string;
  description!: string | null;
  events!: string[];
  secret!: string;
  status!: WebhookStatus;
  /** Deliveries marked failed since the last success or re-enabling, and when the first of them was. */
  failure_streak!: number;
  failing_since!: Date | null;
  /** When it was disabled; the reason only when that was automatic. Both null while active. */
  disabled_at!: Date | null;
  disabled_reason!: string | null;
  created_by!: string | null;
  created_at!: Date;
  updated_at!: Date;
}

export interface WebhookInput {
  url: string;
  events: readonly string[];
  secret?: string;
  description?: string | null;
}

export interface WebhookPatch {
  url?: string;
  events?: readonly string[];
  description?: string | null;
  status?: WebhookStatus;
  /** A new secret; `true` generates one. */
  secret?: string | true;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A webhook URL must be absolute https, without credentials. Plain http is
 * accepted for loopback hosts only (a receiver on the same machine, in
 * development), never across a network where the payload is health data.
 */
export function assertWebhookUrl(value: string, field = 'url'): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw validationError(`${field}: must be an absolute URL`, [{ field, message: 'must be an absolute URL' }]);
  }
  const bad = (message: string) => validationError(`${field}: ${message}`, [{ field, message }]);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must be an https URL');
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) throw bad('must be an https URL (http only for localhost)');
  if (url.username || url.password) throw bad('must not contain credentials');
}

/** A secret for signing when the integrator gave none: 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

function distinctEvents(events: readonly string[]): string[] {
  return [...new Set(events)];
}

export async function listWebhooks(db: Db, scope: OrgScope, input: { page: number; limit: number; status?: WebhookStatus }): Promise<{ rows: Webhook[]; total: number }> {
  const q = Webhook.query(db).where({ organization_id: scope.organizationId });
  if (input.status) q.where({ status: input.status });
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

export async function getWebhook(db: Db, scope: OrgScope, id: string): Promise<Webhook> {
  const w = await Webhook.query(db).where({ organization_id: scope.organizationId }).findById(id);
  if (!w) throw notFound('Webhook');
  return w;
}

export async function createWebhook(db: Db, scope: OrgScope, input: WebhookInput, createdBy: string | null): Promise<Webhook> {
  assertWebhookUrl(input.url);
  return Webhook.query(db).insertAndFetch({
    id: newId('webhook'),
    organization_id: scope.organizationId,
    url: input.url,
    description: input.description ?? null,
    events: distinctEvents(input.events),
    secret: input.secret ?? generateWebhookSecret(),
    status: 'active',
    created_by: createdBy,
  } as Partial<Webhook>);
}

/** What a change of status writes; re-enabling clears the reason and starts the failure streak over. */
function statusChange(status: WebhookStatus): Record<string, unknown> {
  return status === 'disabled'
    ? { status, disabled_at: fn.now(), disabled_reason: null }
    : { status, disabled_at: null, disabled_reason: null, failure_streak: 0, failing_since: null };
}

export async function updateWebhook(db: Db, scope: OrgScope, id: string, input: WebhookPatch): Promise<Webhook> {
  // Locked (the route runs this in a transaction): a delivery failing now cannot disable it between this read and the write.
  const existing = await Webhook.query(db).where({ organization_id: scope.organizationId }).findById(id).forUpdate();
  if (!existing) throw notFound('Webhook');
  const patch: Partial<Webhook> = { updated_at: new Date() };
  if (input.url !== undefined) {
    assertWebhookUrl(input.url);
    patch.url = input.url;
  }
  if (input.events !== undefined) patch.events = distinctEvents(input.events);
  if (input.description !== undefined) patch.description = input.description;
  if (input.status !== undefined && input.status !== existing.status) Object.assign(patch, statusChange(input.status));
  if (input.secret !== undefined) patch.secret = input.secret === true ? generateWebhookSecret() : input.secret;
  return existing.$query(db).patchAndFetch(patch);
}

/** Deletes the subscription and its delivery history; deliveries still pending are never sent. */
export async function deleteWebhook(db: Db, scope: OrgScope, id: string): Promise<void> {
  const n = await Webhook.query(db).where({ organization_id: scope.organizationId, id }).delete();
  if (n === 0) throw notFound('Webhook');
}

/**
 * Records a `webhook.test` event and queues its delivery to this webhook
 * only (nothing subscribes to it, so the trigger queues nothing else).
 * Returns the delivery id.
 */
export async function queueTestDelivery(db: Db, scope: OrgScope, id: string): Promise<string> {
  const webhook = await getWebhook(db, scope, id);
  const eventId = newId('event');
  await recordEvent(db, scope.organizationId, TEST_EVENT, webhook.id, { webhook_id: webhook.id, message: 'This is a test delivery from CareChat.' }, eventId);
  const deliveryId = newId('delivery');
  await (db as Knex)('webhook_deliveries').insert({
    id: deliveryId, organization_id: scope.organizationId, webhook_id: webhook.id, event_id: eventId, event: TEST_EVENT,
  });
  return deliveryId;
}
