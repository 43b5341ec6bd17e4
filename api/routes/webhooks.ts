/** /webhooks: subscriptions to domain events, their delivery log, redelivery and a test ping (Mark, VAANI, PRM). */
import { z } from 'zod';
import { route, paginationQuery, paginate, idParam } from '../http/route.js';
import { withIdempotency } from '../http/idempotency.js';
import {
  deliverySchema, presentDelivery, presentWebhook, presentWebhookWithSecret, webhookSchema, webhookWithSecretSchema,
} from '../presenters/webhooks.js';
import {
  WEBHOOK_EVENTS, WEBHOOK_STATUSES, createWebhook, deleteWebhook, getWebhook, listWebhooks, queueTestDelivery, updateWebhook,
} from '../../models/webhooks.js';
import { DELIVERY_STATUSES, getDelivery, listDeliveries, redeliver } from '../../models/webhookDeliveries.js';
import type { AppDeps } from '../deps.js';

const url = z.string().trim().min(1, 'is required').max(2048).describe('https URL (http only for localhost)');
const events = z.array(z.enum(WEBHOOK_EVENTS)).min(1, 'at least one event is required').max(WEBHOOK_EVENTS.length * 2)
  .describe(`Events to receive: ${WEBHOOK_EVENTS.join(', ')}`);
const secret = z.string().min(16, 'must be at least 16 characters').max(256);
const description = z.string().trim().max(500).nullable();

// Accept the reference documents' spellings on input (`appointment.canceled`).
const eventAliases = (body: unknown): unknown => {
  if (body && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events)) {
    const b = body as { events: unknown[] };
    return { ...b, events: b.events.map((e) => (e === 'appointment.canceled' ? 'appointment.cancelled' : e)) };
  }
  return body;
};

const createBody = z.preprocess(eventAliases, z.object({
  url,
  events,
  secret: secret.optional().describe('Signing secret; one is generated (and returned once) when omitted'),
  description: description.optional(),
}).strict());

const patchBody = z.preprocess(eventAliases, z.object({
  url: url.optional(),
  events: events.optional(),
  status: z.enum(WEBHOOK_STATUSES).optional()
    .describe('disabled: nothing is queued for it, and what is queued waits; active: re-enabled, its disabled_reason cleared and its failure streak started over'),
  description: description.optional(),
  secret: secret.optional().describe('A new signing secret'),
  rotate_secret: z.boolean().optional().describe('true: generate a new signing secret (returned once)'),
}).strict());

const scope = (orgId: string) => ({ organizationId: orgId });
const webhookParam = idParam('wh');
const deliveryParams = z.object({ id: webhookParam.shape.id, delivery_id: z.string().min(1).max(64).describe('A dlv_ id') });

async function sendNow(deps: AppDeps, orgId: string, webhookId: string, deliveryId: string) {
  await deps.hooks.deliverWebhookNow?.(deliveryId);
  return presentDelivery(await getDelivery(deps.db.knex, scope(orgId), webhookId, deliveryId));
}

export const webhookRoutes = [
  route({
    method: 'get', path: '/webhooks', operationId: 'listWebhooks', summary: 'List webhooks', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', list: true,
    query: z.object({ ...paginationQuery, status: z.enum(WEBHOOK_STATUSES).optional() }),
    response: z.array(webhookSchema),
    handler: async ({ deps, orgId, query }) => {
      const { rows, total } = await listWebhooks(deps.db.knex, scope(orgId), query);
      return { data: rows.map(presentWebhook), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/webhooks', operationId: 'createWebhook', summary: 'Subscribe a URL to events', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', status: 201, body: createBody, response: webhookWithSecretSchema, errors: [400, 422],
    handler: async ({ ctx, deps, orgId, body, principal }) =>
      withIdempotency(ctx, deps, orgId, async (trx) => {
        const w = await createWebhook(trx, scope(orgId), body, principal.userId);
        deps.logger.info({ webhook_id: w.id, events: w.events.length }, 'webhook created');
        return { data: presentWebhookWithSecret(w), message: 'Webhook created successfully', status: 201 };
      }, 201),
  }),
  route({
    method: 'get', path: '/webhooks/:id', operationId: 'getWebhook', summary: 'Get a webhook', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', params: webhookParam, response: webhookSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: presentWebhook(await getWebhook(deps.db.knex, scope(orgId), params.id)) }),
  }),
  route({
    method: 'patch', path: '/webhooks/:id', operationId: 'updateWebhook', summary: 'Change, disable or re-enable a webhook, or rotate its secret', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', params: webhookParam, body: patchBody, errors: [400, 404],
    response: webhookSchema.extend({ secret: z.string().optional().describe('Present when the secret was changed') }),
    handler: async ({ deps, orgId, params, body }) => {
      const { rotate_secret: rotate, ...rest } = body;
      const newSecret = body.secret ?? (rotate ? true : undefined);
      const w = await deps.db.knex.transaction((trx) => updateWebhook(trx, scope(orgId), params.id, { ...rest, secret: newSecret }));
      return { data: newSecret === undefined ? presentWebhook(w) : presentWebhookWithSecret(w), message: 'Webhook updated successfully' };
    },
  }),
  route({
    method: 'delete', path: '/webhooks/:id', operationId: 'deleteWebhook', summary: 'Delete a webhook (pending deliveries are dropped)', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', params: webhookParam, response: z.null(), errors: [404],
    handler: async ({ deps, orgId, params }) => {
      await deleteWebhook(deps.db.knex, scope(orgId), params.id);
      deps.logger.info({ webhook_id: params.id }, 'webhook deleted');
      return { data: null, message: 'Webhook deleted successfully' };
    },
  }),
  route({
    method: 'get', path: '/webhooks/:id/deliveries', operationId: 'listWebhookDeliveries', summary: "A webhook's deliveries, newest first", tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', list: true, params: webhookParam, errors: [404],
    query: z.object({ ...paginationQuery, status: z.enum(DELIVERY_STATUSES).optional(), event: z.string().max(64).optional() }),
    response: z.array(deliverySchema),
    handler: async ({ deps, orgId, params, query }) => {
      await getWebhook(deps.db.knex, scope(orgId), params.id);
      const { rows, total } = await listDeliveries(deps.db.knex, scope(orgId), params.id, query);
      return { data: rows.map(presentDelivery), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/webhooks/:id/deliveries/:delivery_id/redeliver', operationId: 'redeliverWebhookDelivery',
    summary: 'Send a finished delivery again, now (it then retries as a new one would)', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', params: deliveryParams, response: deliverySchema, errors: [404, 409],
    handler: async ({ deps, orgId, params }) => {
      await redeliver(deps.db.knex, scope(orgId), params.id, params.delivery_id);
      return { data: await sendNow(deps, orgId, params.id, params.delivery_id), message: 'Delivery sent again' };
    },
  }),
  route({
    method: 'post', path: '/webhooks/:id/test', operationId: 'testWebhook',
    summary: 'Send a signed webhook.test event to this webhook now and report what its receiver answered', tag: 'webhooks',
    permission: 'webhook.manage', rateLimit: 'admin', params: webhookParam, response: deliverySchema, errors: [404],
    handler: async ({ deps, orgId, params }) => {
      const deliveryId = await deps.db.knex.transaction((trx) => queueTestDelivery(trx, scope(orgId), params.id));
      const delivery = await sendNow(deps, orgId, params.id, deliveryId);
      return { data: delivery, message: delivery.status === 'succeeded' ? 'Test delivery succeeded' : 'Test delivery failed' };
    },
  }),
];
