/** /api-keys: keys for server-to-server use (Klear Karma), each acting as its creator narrowed to its scopes. */
import { z } from 'zod';
import { route, paginationQuery, paginate, idParam, isoDateTime } from '../http/route.js';
import { apiKeySchema, createdApiKeySchema, presentApiKey } from '../presenters/users.js';
import { PERMISSIONS } from '../policies.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../../models/apiKeys.js';
import { fieldError } from '../../lib/errors.js';

const createBody = z.object({
  name: z.string().trim().min(1, 'is required').max(100),
  scopes: z.array(z.enum(PERMISSIONS)).max(PERMISSIONS.length).optional()
    .describe("Permission names the key may use; omitted or empty means all of the creator's role"),
  expires_at: isoDateTime.nullable().optional().describe('When the key stops working; never when omitted'),
});

export const apiKeysRoutes = [
  route({
    method: 'post', path: '/api-keys', operationId: 'createApiKey', summary: 'Create an API key (the key is shown only in this response)', tag: 'api-keys',
    permission: 'api_key.manage', rateLimit: 'admin', status: 201, body: createBody, response: createdApiKeySchema, errors: [400],
    handler: async ({ deps, orgId, principal, body }) => {
      const now = deps.clock.now();
      const expiresAt = body.expires_at ? new Date(body.expires_at) : null;
      if (expiresAt && expiresAt <= now) throw fieldError('expires_at', 'must be in the future');
      // A key can never do more than its creator: refuse scopes the creator does not hold.
      const notHeld = (body.scopes ?? []).filter((s) => !principal.permissions.has(s));
      if (notHeld.length) throw fieldError('scopes', `you do not hold ${notHeld.join(', ')}`);
      const { apiKey, key } = await createApiKey(deps.db.knex, { organizationId: orgId }, {
        userId: principal.userId, name: body.name, scopes: body.scopes, expiresAt,
      }, now);
      return { data: { ...presentApiKey(apiKey), key }, message: 'API key created: store it now, it will not be shown again' };
    },
  }),
  route({
    method: 'get', path: '/api-keys', operationId: 'listApiKeys', summary: "List the organization's API keys (never the keys themselves)", tag: 'api-keys',
    permission: 'api_key.manage', rateLimit: 'admin', list: true, query: z.object({ page: paginationQuery.page, limit: paginationQuery.limit }),
    response: z.array(apiKeySchema),
    handler: async ({ deps, orgId, query }) => {
      const { rows, total } = await listApiKeys(deps.db.knex, { organizationId: orgId }, query);
      return { data: rows.map(presentApiKey), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'delete', path: '/api-keys/:id', operationId: 'revokeApiKey', summary: 'Revoke an API key', tag: 'api-keys',
    permission: 'api_key.manage', rateLimit: 'admin', params: idParam('key'), response: apiKeySchema, errors: [404],
    handler: async ({ deps, orgId, params }) => {
      const apiKey = await revokeApiKey(deps.db.knex, { organizationId: orgId }, params.id, deps.clock.now());
      return { data: presentApiKey(apiKey), message: 'API key revoked' };
    },
  }),
];
