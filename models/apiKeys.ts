/**
 * API keys for server-to-server use (Klear Karma): `cc_` + 32 random bytes,
 * shown once at creation; only its SHA-256 hash and a short prefix are kept.
 * A key acts as its creator, narrowed to its scopes (api/http/authenticate.ts).
 */
import { BaseModel, type Db, type OrgScope } from './base.js';
import { hashSecret, newSecret } from './tokens.js';
import { newId } from '../lib/ids.js';
import { notFound } from '../lib/errors.js';

/** Must match API_KEY_PREFIX in api/http/authenticate.ts, which routes a Bearer credential to key lookup. */
export const API_KEY_PREFIX = 'cc_';
/** Enough of the key to recognise it in a list, far too little to guess the rest. */
const VISIBLE_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;

export class ApiKey extends BaseModel {
  static override tableName = 'api_keys';
  static override jsonAttributes = ['scopes'];
  id!: string;
  organization_id!: string;
  user_id!: string;
  name!: string;
  prefix!: string;
  key_hash!: string;
  scopes!: string[];
  expires_at!: Date | null;
  last_used_at!: Date | null;
  revoked_at!: Date | null;
  created_at!: Date;
}

export interface CreateApiKeyInput {
  userId: string;
  name: string;
  /** Permission names; empty means the creator's whole role. */
  scopes?: string[];
  expiresAt?: Date | null;
}

/** Creates a key; the clear key is returned here and never again. */
export async function createApiKey(db: Db, scope: OrgScope, input: CreateApiKeyInput, now: Date): Promise<{ apiKey: ApiKey; key: string }> {
  const key = newSecret(API_KEY_PREFIX);
  const apiKey = await ApiKey.query(db).insertAndFetch({
    id: newId('apiKey'),
    organization_id: scope.organizationId,
    user_id: input.userId,
    name: input.name,
    prefix: key.slice(0, VISIBLE_PREFIX_LENGTH),
    key_hash: hashSecret(key),
    scopes: [...new Set(input.scopes ?? [])],
    expires_at: input.expiresAt ?? null,
    created_at: now,
  });
  return { apiKey, key };
}

export async function listApiKeys(db: Db, scope: OrgScope, input: { page: number; limit: number }): Promise<{ rows: ApiKey[]; total: number }> {
  const q = ApiKey.query(db).where({ organization_id: scope.organizationId });
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

/** Revokes a key of the organization; revoking a revoked key changes nothing. */
export async function revokeApiKey(db: Db, scope: OrgScope, id: string, now: Date): Promise<ApiKey> {
  const existing = await ApiKey.query(db).where({ id, organization_id: scope.organizationId }).first();
  if (!existing) throw notFound('API key');
  if (existing.revoked_at) return existing;
  return existing.$query(db).patchAndFetch({ revoked_at: now });
}
