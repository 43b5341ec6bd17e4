/** What the HTTP layer is given by main.ts; routes reach everything through it. */
import type { Context } from 'koa';
import type Router from '@koa/router';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { Clock } from '../lib/clock.js';
import { AppError } from '../lib/errors.js';
import type { Database } from '../models/db.js';
import type { RateLimits } from './http/rateLimit.js';
import type { TokenService } from '../models/tokens.js';
import type { Transcriber } from '../lib/transcription.js';

/**
 * Hooks that main.ts wires to the engine and channels, so api/ never imports
 * them. Each is optional: a bare API (tests, benchmarks) runs without them.
 */
export interface AppHooks {
  /** Outbound rows were committed: wake the dispatcher now instead of at its next poll. */
  outboundQueued?: () => void;
  /** A staff reply was committed on a conversation: push it at once to a connected web-chat visitor (main.ts wires this). */
  staffMessageQueued?: (conversationId: string, messageId: string) => void;
  /** State of each channel adapter, for /channels and /system/status. */
  channelStatus?: () => Array<{ name: string; enabled: boolean; status: string; detail?: string }>;
  /** Calls heard over Media Streams on this instance (VOICE_RECOGNITION=stream), for /metrics. */
  voiceStreams?: () => { open: number; opened: number; utterances: number; notHeard: number; fallbacks: number };
  /**
   * A password-reset token was issued: deliver the link (e-mail...). Without
   * it the link is written to the log at info level, without the address.
   */
  passwordResetIssued?: (userId: string, token: string) => void;
  /**
   * Sends a queued webhook delivery now and resolves with its status (POST
   * /webhooks/:id/test waits for it); null when another instance took it.
   */
  deliverWebhookNow?: (deliveryId: string) => Promise<string | null>;
}

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  rateLimits: RateLimits;
  tokens: TokenService;
  hooks: AppHooks;
  startedAt: Date;
  /** Speech to text for voice messages (null: no OpenAI-compatible service configured). */
  transcriber?: Transcriber | null;
  unauthorized(ctx: Context): AppError;
  /**
   * Routers mounted as they are (provider webhooks: their own signature
   * checks, no API auth or rate limit), before the 404 for unknown paths.
   */
  extraRouters?: Router[];
}
