/**
 * Resolves `Authorization: Bearer <JWT | API key>` into a Principal on
 * ctx.state. Routes decide whether one is required; a bad token is 401 at once.
 */
import type { Context, Next } from 'koa';
import type { Knex } from 'knex';
import { unauthorized } from '../../lib/errors.js';
import { hashSecret, type TokenService } from '../../models/tokens.js';
import { permissionsFor, type Principal, type Role } from '../policies.js';

export const API_KEY_PREFIX = 'cc_';

interface CachedUser { row: UserRow; at: number }
interface UserRow { id: string; organization_id: string; role: Role; permissions: string[]; doctor_id: string | null; is_active: boolean; deleted_at: Date | null; token_version: number }

/** A short cache keeps the per-request user check cheap while a deactivation still takes effect within seconds. */
const USER_CACHE_MS = 3000;

/** Every service's user cache in this process (tests run several services side by side). */
const caches = new Set<Map<string, CachedUser>>();

/**
 * Drops a user's cached row so a logout, password reset, deactivation or role
 * change takes effect on the next request in this process; other instances
 * still see it within USER_CACHE_MS.
 */
export function forgetCachedUser(userId: string): void {
  for (const cache of caches) cache.delete(userId);
}

export function authenticate(knex: Knex, tokens: TokenService, now: () => Date) {
  const cache = new Map<string, CachedUser>();
  caches.add(cache);

  async function loadUser(id: string): Promise<UserRow | undefined> {
    const hit = cache.get(id);
    if (hit && Date.now() - hit.at < USER_CACHE_MS) return hit.row;
    const row = await knex('users').select('id', 'organization_id', 'role', 'permissions', 'doctor_id', 'is_active', 'deleted_at', 'token_version').where({ id }).first();
    if (row) {
      if (cache.size > 10_000) cache.clear();
      cache.set(id, { row, at: Date.now() });
    }
    return row;
  }

  return async (ctx: Context, next: Next) => {
    const header = ctx.get('Authorization');
    if (!header) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthorized('Authorization header must be "Bearer <token>"');
    const credential = match[1];

    if (credential.startsWith(API_KEY_PREFIX)) {
      const key = await knex('api_keys as k')
        .join('users as u', 'u.id', 'k.user_id')
        .select('k.id', 'k.organization_id', 'k.user_id', 'k.scopes', 'k.expires_at', 'k.revoked_at', 'u.role', 'u.doctor_id', 'u.is_active', 'u.deleted_at')
        .where('k.key_hash', hashSecret(credential))
        .first();
      if (!key || key.revoked_at || !key.is_active || key.deleted_at || (key.expires_at && new Date(key.expires_at) <= now())) {
        throw unauthorized('Invalid, expired or revoked API key');
      }
      // A key acts with its creator's role, narrowed to its scopes when it has any.
      const rolePerms = permissionsFor(key.role as Role);
      const scopes = (key.scopes as string[]) ?? [];
      const permissions = scopes.length ? new Set([...rolePerms].filter((p) => scopes.includes(p))) : rolePerms;
      ctx.state.principal = {
        kind: 'api_key', organizationId: key.organization_id, userId: key.user_id, role: key.role as Role,
        permissions, doctorId: key.doctor_id, apiKeyId: key.id,
      } satisfies Principal;
      // Fire-and-forget bookkeeping must not hold PGlite's single connection in the request path.
      knex('api_keys').where({ id: key.id }).update({ last_used_at: now() }).catch(() => undefined);
      return next();
    }

    const claims = await tokens.verifyAccess(credential);
    if (!claims) throw unauthorized('Invalid or expired access token');
    const user = await loadUser(claims.sub);
    if (!user || !user.is_active || user.deleted_at || user.token_version !== claims.ver || user.organization_id !== claims.org) {
      throw unauthorized('Invalid or expired access token');
    }
    ctx.state.principal = {
      kind: 'user', organizationId: user.organization_id, userId: user.id, role: user.role,
      permissions: permissionsFor(user.role, user.permissions), doctorId: user.doctor_id, apiKeyId: null,
    } satisfies Principal;
    return next();
  };
}
