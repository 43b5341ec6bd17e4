/**
 * Rate limits of shared/API.md through rate-limiter-flexible: in memory by
 * default, in Redis when REDIS_URL is set so every instance shares a budget.
 */
import type { Context, Next } from 'koa';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { AppError } from '../../lib/errors.js';
import type { Principal } from '../policies.js';

export type RateLimitName = 'auth' | 'login_account' | 'appointments' | 'admin' | 'bulk';

const LIMITS: Record<RateLimitName, { points: number; duration: number; by: 'ip' | 'principal' }> = {
  auth: { points: 5, duration: 60, by: 'ip' },
  login_account: { points: 5, duration: 15 * 60, by: 'ip' },
  appointments: { points: 60, duration: 60, by: 'principal' },
  admin: { points: 120, duration: 60, by: 'principal' },
  bulk: { points: 10, duration: 60, by: 'principal' },
};

export interface RateLimits {
  middleware(name: RateLimitName): (ctx: Context, next: Next) => Promise<void>;
  /** Consumes one point for an arbitrary key (per-account login attempts); throws 429. */
  consume(name: RateLimitName, key: string, ctx: Context): Promise<void>;
  reward(name: RateLimitName, key: string): Promise<void>;
}

function setHeaders(ctx: Context, limit: number, res: RateLimiterRes): void {
  ctx.set('X-RateLimit-Limit', String(limit));
  ctx.set('X-RateLimit-Remaining', String(Math.max(0, res.remainingPoints)));
  ctx.set('X-RateLimit-Reset', String(Math.ceil((Date.now() + res.msBeforeNext) / 1000)));
}

export function createRateLimits(opts: { enabled: boolean; redis?: Redis | null; keyPrefix?: string }): RateLimits {
  const limiters = new Map<RateLimitName, RateLimiterAbstract>();
  for (const [name, l] of Object.entries(LIMITS) as [RateLimitName, (typeof LIMITS)[RateLimitName]][]) {
    const common = { points: l.points, duration: l.duration, keyPrefix: `${opts.keyPrefix ?? 'rl'}:${name}` };
    limiters.set(name, opts.redis ? new RateLimiterRedis({ ...common, storeClient: opts.redis }) : new RateLimiterMemory(common));
  }

  async function consume(name: RateLimitName, key: string, ctx: Context): Promise<void> {
    if (!opts.enabled) return;
    const limit = LIMITS[name].points;
    try {
      setHeaders(ctx, limit, await limiters.get(name)!.consume(key));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err; // the store failed: surface it, do not hide it as a 429
      setHeaders(ctx, limit, err);
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
      throw new AppError('RATE_LIMIT_EXCEEDED', 'Too many requests, slow down', { retry_after_seconds: Math.ceil(err.msBeforeNext / 1000) });
    }
  }

  return {
    consume,
    middleware(name) {
      return async (ctx, next) => {
        const principal = ctx.state.principal as Principal | undefined;
        const key = LIMITS[name].by === 'principal' && principal ? `${principal.kind}:${principal.apiKeyId ?? principal.userId}` : `ip:${ctx.ip}`;
        await consume(name, key, ctx);
        await next();
      };
    },
    async reward(name, key) {
      if (opts.enabled) await limiters.get(name)!.delete(key);
    },
  };
}
