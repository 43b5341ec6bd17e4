/**
 * Access tokens (JWT, HS256 via jose) and opaque secrets (API keys, refresh
 * and reset tokens) that are stored only as SHA-256 hashes.
 */
import { createHash, randomBytes } from 'node:crypto';
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

export function createTokenService(key: Uint8Array, ttlSeconds: number, now: () => Date): TokenService {
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
      try {
        const { payload } = await jwtVerify(token, key, { issuer: 'carechat', algorithms: ['HS256'], currentDate: now() });
        if (typeof payload.sub !== 'string' || typeof payload.org !== 'string' || typeof payload.exp !== 'number') return null;
        return { sub: payload.sub, org: payload.org, role: String(payload.role), ver: Number(payload.ver ?? 0), exp: payload.exp };
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) return null;
        throw err;
      }
    },
  };
}
