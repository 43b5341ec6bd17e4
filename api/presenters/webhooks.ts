/** What leaves the API about webhooks and their deliveries: whitelists, also the OpenAPI schemas. */
import { z } from 'zod';
import { iso } from './patients.js';
import { WEBHOOK_STATUSES, type Webhook } from '../../models/webhooks.js';
import { WEBHOOK_DISABLE_AFTER_FAILURES, WEBHOOK_DISABLE_AFTER_MS } from '../../models/webhookHealth.js';
import type { WebhookDelivery } from '../../models/webhookDeliveries.js';

export const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  events: z.array(z.string()),
  status: z.enum(WEBHOOK_STATUSES).describe(
    `disabled: sent nothing, and nothing is queued for it; by an admin, or automatically after ${WEBHOOK_DISABLE_AFTER_FAILURES} deliveries `
    + `in a row failed after every retry over at least ${WEBHOOK_DISABLE_AFTER_MS / 3_600_000} hours. PATCH status active re-enables it.`,
  ),
  disabled_reason: z.string().nullable().describe('Why it was disabled automatically; null while active or when an admin disabled it'),
  disabled_at: z.string().nullable().describe('When it was disabled; null while active'),
  secret_hint: z.string().describe('The last 4 characters of the signing secret (the secret is shown only when set)'),
  created_at: z.string(),
  updated_at: z.string(),
});

/** When a secret was just set or generated: the only time it leaves the API. */
export const webhookWithSecretSchema = webhookSchema.extend({
  secret: z.string().describe('Signing secret: X-Webhook-Signature is sha256=<hex HMAC-SHA256 of the raw body with it>. Shown once.'),
});

export function presentWebhook(w: Webhook): z.infer<typeof webhookSchema> {
  return {
    id: w.id,
    url: w.url,
    description: w.description,
    events: w.events,
    status: w.status,
    disabled_reason: w.disabled_reason,
    disabled_at: iso(w.disabled_at),
    secret_hint: w.secret.slice(-4),
    created_at: iso(w.created_at)!,
    updated_at: iso(w.updated_at)!,
  };
}

export function presentWebhookWithSecret(w: Webhook): z.infer<typeof webhookWithSecretSchema> {
  return { ...presentWebhook(w), secret: w.secret };
}

export const deliverySchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event_id: z.string().describe('Sent as X-Webhook-Id and as the payload id'),
  event: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: z.string().nullable().describe('When a pending delivery is tried next'),
  response_status: z.number().int().nullable().describe("The receiver's HTTP status on the last attempt"),
  response_ms: z.number().int().nullable(),
  last_error: z.string().nullable(),
  delivered_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export function presentDelivery(d: WebhookDelivery): z.infer<typeof deliverySchema> {
  return {
    id: d.id,
    webhook_id: d.webhook_id,
    event_id: d.event_id,
    event: d.event,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? iso(d.next_attempt_at) : null,
    response_status: d.response_status,
    response_ms: d.response_ms,
    last_error: d.last_error,
    delivered_at: iso(d.delivered_at),
    created_at: iso(d.created_at)!,
    updated_at: iso(d.updated_at)!,
  };
}
