/**
 * /auth: login (PRM), the username+password token form (Mark Assistant,
 * OAuth2 password flow), refresh-token rotation, logout, password reset and
 * the caller's own profile.
 */
import { z } from 'zod';
import type { Context } from 'koa';
import { route } from '../http/route.js';
import { forgetCachedUser } from '../http/authenticate.js';
import { presentSession, presentUser, tokenResponseSchema, userSchema } from '../presenters/users.js';
import type { AppDeps } from '../deps.js';
import {
  INVALID_CREDENTIALS, checkCredentials, createPasswordReset, logout, resetPassword, rotateRefreshToken, startSession,
  type Session, type SessionContext,
} from '../../models/auth.js';
import { getUser, hashPassword, updateUser, verifyPassword } from '../../models/users.js';
import { fieldError, forbidden, unauthorized } from '../../lib/errors.js';

const FORGOT_MESSAGE = 'If an account exists for this email, a password reset link has been sent';

function sessionContext(deps: AppDeps): SessionContext {
  return { tokens: deps.tokens, now: deps.clock.now(), refreshTtlDays: deps.config.REFRESH_TOKEN_TTL_DAYS };
}

/**
 * Email-or-username login shared by /auth/login and /auth/token. The account
 * budget is spent before the password is checked, so a locked account stays
 * locked even for the right password; a success clears it.
 */
async function passwordLogin(deps: AppDeps, ctx: Context, login: string, password: string): Promise<Session> {
  const accountKey = `acct:${login.trim().toLowerCase()}`;
  await deps.rateLimits.consume('login_account', accountKey, ctx);
  const user = await checkCredentials(deps.db.knex, login, password);
  if (!user) throw unauthorized(INVALID_CREDENTIALS);
  await deps.rateLimits.reward('login_account', accountKey);
  return startSession(deps.db.knex, sessionContext(deps), user);
}

/** Hands the reset link to the configured delivery, else logs it (user id only: never the address). */
function deliverPasswordReset(deps: AppDeps, userId: string, token: string): void {
  try {
    if (deps.hooks.passwordResetIssued) {
      deps.hooks.passwordResetIssued(userId, token);
      return;
    }
    const base = deps.config.PUBLIC_URL ?? `http://localhost:${deps.config.PORT}`;
    deps.logger.info({ user_id: userId, reset_url: `${base}/reset-password?token=${encodeURIComponent(token)}` }, 'password reset link issued');
  } catch (err) {
    // The answer must not differ for existing accounts, so a failed delivery cannot become a 500.
    deps.logger.error({ err, user_id: userId }, 'password reset delivery failed');
  }
}

const loginName = z.string().trim().min(1, 'is required').max(320);
const password = z.string().min(1, 'is required').max(1024);
const newPassword = z.string().min(8, 'must be at least 8 characters').max(1024);

const loginBody = z.object({
  email: loginName.optional().describe('Email, or use username'),
  username: loginName.optional().describe('Username, or use email'),
  password,
}).refine((b) => b.email !== undefined || b.username !== undefined, { message: 'email or username is required', path: ['email'] });

const tokenBody = z.object({
  grant_type: z.literal('password', { message: 'only the password grant is supported' }).optional(),
  username: loginName.describe('Username or email'),
  password,
});

const profileBody = z.object({
  first_name: z.string().trim().min(1, 'is required').max(100).optional(),
  last_name: z.string().trim().max(100).optional(),
  email: z.email('must be a valid email address').max(320).optional(),
  password: newPassword.optional().describe('A new password; requires current_password'),
  current_password: z.string().max(1024).optional(),
});

export const authRoutes = [
  route({
    method: 'post', path: '/auth/login', operationId: 'login', summary: 'Log in with email or username and password', tag: 'auth',
    auth: 'none', rateLimit: 'auth', body: loginBody, response: tokenResponseSchema, errors: [400, 401, 429],
    handler: async ({ deps, ctx, body }) => {
      const session = await passwordLogin(deps, ctx, (body.email ?? body.username)!, body.password);
      return { data: presentSession(session), message: 'Login successful' };
    },
  }),
  route({
    method: 'post', path: '/auth/token', operationId: 'token', summary: 'Log in with username (or email) and password; JSON or form body, OAuth2 password grant', tag: 'auth',
    auth: 'none', rateLimit: 'auth', bodyType: 'form', body: tokenBody, response: tokenResponseSchema, errors: [400, 401, 429],
    handler: async ({ deps, ctx, body }) => ({ data: presentSession(await passwordLogin(deps, ctx, body.username, body.password)) }),
  }),
  route({
    method: 'post', path: '/auth/refresh', operationId: 'refreshToken', summary: 'Exchange a refresh token for a new token pair (single use)', tag: 'auth',
    auth: 'none', rateLimit: 'auth', body: z.object({ refresh_token: z.string().min(1, 'is required').max(512) }), response: tokenResponseSchema, errors: [400, 401, 429],
    handler: async ({ deps, body }) => ({ data: presentSession(await rotateRefreshToken(deps.db.knex, sessionContext(deps), body.refresh_token)) }),
  }),
  route({
    method: 'post', path: '/auth/logout', operationId: 'logout', summary: "Log out: revoke a refresh token's family (or all) and outstanding access tokens", tag: 'auth',
    body: z.object({ refresh_token: z.string().min(1).max(512).optional() }), response: z.null(), errors: [401, 403],
    handler: async ({ deps, principal, body }) => {
      if (principal.kind !== 'user') throw forbidden('An API key has no session to end: revoke the key instead');
      await logout(deps.db.knex, principal.userId, body.refresh_token, deps.clock.now());
      forgetCachedUser(principal.userId);
      return { data: null, message: 'Logged out' };
    },
  }),
  route({
    method: 'post', path: '/auth/forgot-password', operationId: 'forgotPassword', summary: 'Request a password reset link', tag: 'auth',
    auth: 'none', rateLimit: 'auth', body: z.object({ email: z.email('must be a valid email address').max(320) }), response: z.null(), errors: [400, 429],
    handler: async ({ deps, body }) => {
      const reset = await createPasswordReset(deps.db.knex, body.email, deps.clock.now(), deps.config.PASSWORD_RESET_TTL_MINUTES);
      if (reset) deliverPasswordReset(deps, reset.userId, reset.token);
      return { data: null, message: FORGOT_MESSAGE };
    },
  }),
  route({
    method: 'post', path: '/auth/reset-password', operationId: 'resetPassword', summary: 'Set a new password with a reset token', tag: 'auth',
    auth: 'none', rateLimit: 'auth', body: z.object({ token: z.string().min(1, 'is required').max(512), password: newPassword }), response: z.null(), errors: [400, 429],
    handler: async ({ deps, body }) => {
      const hash = await hashPassword(body.password);
      const userId = await resetPassword(deps.db.knex, body.token, hash, deps.clock.now());
      forgetCachedUser(userId);
      return { data: null, message: 'Password has been reset: sign in with the new password' };
    },
  }),
  route({
    method: 'get', path: '/auth/profile', operationId: 'getProfile', summary: 'The authenticated user', tag: 'auth',
    response: userSchema, errors: [401],
    handler: async ({ deps, orgId, principal }) => ({ data: presentUser(await getUser(deps.db.knex, { organizationId: orgId }, principal.userId)) }),
  }),
  route({
    method: 'put', path: '/auth/profile', operationId: 'updateProfile', summary: 'Update your name, email or password (a new password needs current_password and ends every session)', tag: 'auth',
    body: profileBody, response: userSchema, errors: [400, 401, 403, 409],
    handler: async ({ deps, orgId, principal, body }) => {
      const scope = { organizationId: orgId };
      let passwordHash: string | undefined;
      if (body.password !== undefined) {
        if (principal.kind !== 'user') throw forbidden("An API key cannot change its user's password");
        if (!body.current_password) throw fieldError('current_password', 'is required to change the password');
        const current = await getUser(deps.db.knex, scope, principal.userId);
        if (!(await verifyPassword(current.password_hash, body.current_password))) throw fieldError('current_password', 'is incorrect');
        passwordHash = await hashPassword(body.password);
      }
      const user = await deps.db.knex.transaction((trx) => updateUser(trx, scope, principal.userId, {
        first_name: body.first_name, last_name: body.last_name, email: body.email, password_hash: passwordHash,
      }, deps.clock.now()));
      forgetCachedUser(principal.userId);
      return {
        data: presentUser(user),
        message: passwordHash ? 'Password changed: every session has ended, sign in again' : 'Profile updated successfully',
      };
    },
  }),
];
