/**
 * Sessions: password login, refresh-token rotation with reuse detection,
 * logout and password reset. Refresh and reset tokens are opaque random
 * secrets stored only as SHA-256 hashes.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { type Db } from './base.js';
import { User, endSessions, findUserByLogin, hashPassword, verifyPassword } from './users.js';
import { hashSecret, newSecret, type TokenService } from './tokens.js';
import { newId } from '../lib/ids.js';
import { fieldError, unauthorized } from '../lib/errors.js';

export const REFRESH_TOKEN_PREFIX = 'rt_';
const RESET_TOKEN_PREFIX = 'pr_';
const DAY_MS = 24 * 60 * 60 * 1000;

/** What issuing tokens needs: the signer, the time, and the refresh lifetime. */
export interface SessionContext {
  tokens: TokenService;
  now: Date;
  refreshTtlDays: number;
}

export interface Session {
  user: User;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/** One message for every failed login, so a caller cannot tell which accounts exist. */
export const INVALID_CREDENTIALS = 'Invalid login or password';
const INVALID_REFRESH = 'Invalid, expired or revoked refresh token';

// Unknown logins still pay for one argon2 verification, so timing does not reveal them either.
let dummyHash: Promise<string> | null = null;

/** The active user with this login name and password, or null (unknown, wrong password, inactive). */
export async function checkCredentials(db: Db, login: string, password: string): Promise<User | null> {
  const user = await findUserByLogin(db, login);
  if (!user) {
    dummyHash ??= hashPassword(newSecret('', 16));
    await verifyPassword(await dummyHash, password);
    return null;
  }
  const ok = await verifyPassword(user.password_hash, password);
  return ok && user.is_active ? user : null;
}

async function issue(db: Db, ctx: SessionContext, user: User, familyId: string): Promise<Session> {
  const refreshToken = newSecret(REFRESH_TOKEN_PREFIX);
  await (db as Knex)('refresh_tokens').insert({
    id: newId('refreshToken'),
    organization_id: user.organization_id,
    user_id: user.id,
    family_id: familyId,
    token_hash: hashSecret(refreshToken),
    expires_at: new Date(ctx.now.getTime() + ctx.refreshTtlDays * DAY_MS),
    created_at: ctx.now,
  });
  const { token, expiresIn } = await ctx.tokens.signAccess({ sub: user.id, org: user.organization_id, role: user.role, ver: user.token_version });
  return { user, accessToken: token, refreshToken, expiresIn };
}

/** Starts a session after a successful login: a new refresh-token family, and last_login_at. */
export async function startSession(db: Db, ctx: SessionContext, user: User): Promise<Session> {
  await User.query(db).where({ id: user.id }).patch({ last_login_at: ctx.now } as Partial<User>);
  user.last_login_at = ctx.now;
  return issue(db, ctx, user, newId('refreshToken'));
}

async function revokeFamily(db: Db, familyId: string, now: Date): Promise<void> {
  await (db as Knex)('refresh_tokens').where({ family_id: familyId }).whereNull('revoked_at').update({ revoked_at: now });
}

/**
 * Exchanges a refresh token for a new pair in the same family. Each token is
 * single use: presenting one that was already used means it leaked, so the
 * whole family is revoked (committed) and the caller gets 401.
 */
export async function rotateRefreshToken(knex: Knex, ctx: SessionContext, presented: string): Promise<Session> {
  const tokenHash = hashSecret(presented);
  const outcome = await knex.transaction(async (trx): Promise<Session | 'reused' | 'invalid'> => {
    // The conditional update is the claim: of two concurrent uses, exactly one wins.
    const [claimed] = await trx('refresh_tokens')
      .where({ token_hash: tokenHash })
      .whereNull('used_at').whereNull('revoked_at').where('expires_at', '>', ctx.now)
      .update({ used_at: ctx.now })
      .returning(['family_id', 'user_id']);
    if (!claimed) {
      const row = await trx('refresh_tokens').where({ token_hash: tokenHash }).first('family_id', 'used_at');
      if (row?.used_at) {
        await revokeFamily(trx, row.family_id, ctx.now);
        return 'reused';
      }
      return 'invalid';
    }
    const user = await User.query(trx).findById(claimed.user_id as string);
    if (!user || !user.is_active || user.deleted_at) {
      await revokeFamily(trx, claimed.family_id, ctx.now);
      return 'invalid';
    }
    return issue(trx, ctx, user, claimed.family_id as string);
  });
  if (typeof outcome === 'string') throw unauthorized(INVALID_REFRESH);
  return outcome;
}

/**
 * Logout: revokes the given refresh token's family (only if it is the user's),
 * or every refresh token of the user, and ends outstanding access tokens.
 */
export async function logout(db: Db, userId: string, refreshToken: string | undefined, now: Date): Promise<void> {
  if (refreshToken) {
    const row = await (db as Knex)('refresh_tokens').where({ token_hash: hashSecret(refreshToken), user_id: userId }).first('family_id');
    if (row) await revokeFamily(db, row.family_id as string, now);
    await User.query(db).where({ id: userId }).patch({ token_version: User.raw('token_version + 1'), updated_at: now } as unknown as Partial<User>);
    return;
  }
  await endSessions(db, userId, now);
}

/**
 * Issues a single-use reset token for the live user with this email, or
 * returns null when there is none (the caller answers the same either way).
 */
export async function createPasswordReset(db: Db, email: string, now: Date, ttlMinutes: number): Promise<{ userId: string; token: string } | null> {
  const user = await User.query(db).whereNull('deleted_at').whereRaw('lower(email) = lower(?)', [email.trim()]).first();
  if (!user || !user.is_active) return null;
  const token = newSecret(RESET_TOKEN_PREFIX);
  await (db as Knex)('password_resets').insert({
    id: `prs_${randomUUID()}`, // never leaves the database
    user_id: user.id,
    token_hash: hashSecret(token),
    expires_at: new Date(now.getTime() + ttlMinutes * 60_000),
    created_at: now,
  });
  return { userId: user.id, token };
}

/**
 * Sets a new password with a reset token: the token (and any other pending
 * one of the user) is used up and every session ends. Returns the user id.
 * An unknown, used or expired token is a 400 naming `token`.
 */
export async function resetPassword(knex: Knex, token: string, passwordHash: string, now: Date): Promise<string> {
  return knex.transaction(async (trx) => {
    const [claimed] = await trx('password_resets')
      .where({ token_hash: hashSecret(token) }).whereNull('used_at').where('expires_at', '>', now)
      .update({ used_at: now })
      .returning(['user_id']);
    const user = claimed ? await User.query(trx).findById(claimed.user_id as string).whereNull('deleted_at') : undefined;
    if (!user) throw fieldError('token', 'is invalid, expired or already used');
    await trx('password_resets').where({ user_id: user.id }).whereNull('used_at').update({ used_at: now });
    await User.query(trx).where({ id: user.id }).patch({ password_hash: passwordHash, updated_at: now } as Partial<User>);
    await endSessions(trx, user.id, now);
    return user.id;
  });
}
