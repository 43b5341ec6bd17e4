/**
 * What leaves the API about users, sessions and API keys: whitelists that
 * never include a password hash, a key hash or a stored token.
 */
import { z } from 'zod';
import type { User } from '../../models/users.js';
import type { ApiKey } from '../../models/apiKeys.js';
import type { Session } from '../../models/auth.js';
import { permissionsFor } from '../policies.js';
import { iso } from './patients.js';

export const userSchema = z.object({
  id: z.string(),
  organization_id: z.string(),
  email: z.string(),
  username: z.string().nullable(),
  first_name: z.string(),
  last_name: z.string(),
  name: z.string().describe('first_name and last_name together'),
  role: z.enum(['admin', 'provider', 'staff']),
  permissions: z.array(z.string()).describe('Effective permissions: the role\'s plus extra ones'),
  extra_permissions: z.array(z.string()).describe('Permissions granted beyond the role'),
  doctor_id: z.string().nullable(),
  is_active: z.boolean(),
  status: z.enum(['active', 'inactive']),
  last_login_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export type UserView = z.infer<typeof userSchema>;

export function presentUser(u: User): UserView {
  const extra = u.permissions ?? [];
  return {
    id: u.id,
    organization_id: u.organization_id,
    email: u.email,
    username: u.username,
    first_name: u.first_name,
    last_name: u.last_name,
    name: [u.first_name, u.last_name].filter(Boolean).join(' '),
    role: u.role,
    permissions: [...permissionsFor(u.role, extra)].sort(),
    extra_permissions: [...extra].sort(),
    doctor_id: u.doctor_id,
    is_active: u.is_active,
    status: u.is_active ? 'active' : 'inactive',
    last_login_at: iso(u.last_login_at),
    created_at: iso(u.created_at)!,
    updated_at: iso(u.updated_at)!,
  };
}

export const tokenResponseSchema = z.object({
  access_token: z.string(),
  refresh_token: z.string().describe('Single use: each refresh returns a new one'),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int().describe('Access token lifetime in seconds'),
  user: userSchema,
});

export function presentSession(s: Session): z.infer<typeof tokenResponseSchema> {
  return { access_token: s.accessToken, refresh_token: s.refreshToken, token_type: 'Bearer', expires_in: s.expiresIn, user: presentUser(s.user) };
}

export const apiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe('The first characters of the key, to recognise it'),
  scopes: z.array(z.string()).describe('Permission names; empty means the creator\'s whole role'),
  user_id: z.string().describe('The user the key acts as'),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  revoked: z.boolean(),
  revoked_at: z.string().nullable(),
});

export const createdApiKeySchema = apiKeySchema.extend({
  key: z.string().describe('The full key: shown only in this response'),
});

export function presentApiKey(k: ApiKey): z.infer<typeof apiKeySchema> {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes ?? [],
    user_id: k.user_id,
    created_at: iso(k.created_at)!,
    last_used_at: iso(k.last_used_at),
    expires_at: iso(k.expires_at),
    revoked: k.revoked_at != null,
    revoked_at: iso(k.revoked_at),
  };
}
