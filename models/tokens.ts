/**
 * Access tokens (JWT, HS256 via jose) and opaque secrets (API keys, refresh
 * and reset tokens) that are stored only as SHA-256 hashes.
 */
import { createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Knex } from 'knex';

export interface AccessClaims {
  sub: string;
  org: string;
  role: string;
  /** Token version: bumping users.token_version invalidates outstanding tokens. */
  ver: number;
}

export interface TokenService {
  signAccess(claims: AccessClaims): Promise<{ token: string; expiresIn: number }>;
  /** Returns the claims, or null when the token is invalid or expired. */
  verifyAccess(token: string): Promise<(AccessClaims & { exp: number }) | null>;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');
export const newSecret = (prefix: string, bytes = 32): string => `${prefix}${randomBytes(bytes).toString('base64url')}`;

/** The signing key: from JWT_SECRET, else generated once and kept in the database for every instance. */
export async function loadSigningKey(knex: Knex, configured: string | undefined): Promise<Uint8Array> {
  if (configured) return new TextEncoder().encode(configured);
  const candidate = randomBytes(48).toString('base64url');
  await knex('system_settings').insert({ key: 'jwt_secret', value: candidate }).onConflict('key').ignore();
  const row = await knex('system_settings').where({ key: 'jwt_secret' }).first();
  return new TextEncoder().encode(row.value as string);
}

/** Verified tokens are remembered briefly: HMAC verification on every request is measurable under load. */
const VERIFIED_CACHE_MS = 30_000;
const VERIFIED_CACHE_MAX = 10_000;

export function createTokenService(rawKey: Uint8Array, ttlSeconds: number, now: () => Date): TokenService {
  // A KeyObject is imported once; a raw Uint8Array would be imported again by every sign and verify.
  const key: KeyObject = createSecretKey(rawKey);
  const verified = new Map<string, { claims: AccessClaims & { exp: number }; until: number }>();
  return {
    async signAccess(claims) {
      const iat = Math.floor(now().getTime() / 1000);
      const token = await new SignJWT({ org: claims.org, role: claims.role, ver: claims.ver })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .setIssuer('carechat')
        .sign(key);
      return { token, expiresIn: ttlSeconds };
    },
    async verifyAccess(token) {
      const nowMs = now().getTime();
      const hit = verified.get(token);
      if (hit && nowMs < hit.until && nowMs < hit.claims.exp * 1000) return hit.claims;
      try {
        const { payload } = await jwtVerify(token, key, { issuer: 'carechat', algorithms: ['HS256'], currentDate: now() });
        if (typeof payload.sub !== 'string' || typeof payload.org !== 'string' || typeof payload.exp !== 'number') return null;
        const claims = { sub: payload.sub, org: payload.org, role: String(payload.role), ver: Number(payload.ver ?? 0), exp: payload.exp };
        if (verified.size >= VERIFIED_CACHE_MAX) verified.clear();
        verified.set(token, { claims, until: nowMs + VERIFIED_CACHE_MS });
        return claims;
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) return null;
        throw err;
      }
    },
  };
}
