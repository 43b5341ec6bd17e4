/**
 * The only reader of process.env. Every setting is typed, validated and has a
 * default that runs on a fresh machine (embedded database, no accounts).
 */
import { z } from 'zod';
import { KeyRingError, parseKeyRing } from './encryption.js';

const bool = z
  .union([z.boolean(), z.string()])
  .transform((v) => (typeof v === 'boolean' ? v : ['1', 'true', 'yes', 'on'].includes(v.toLowerCase())));

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  HOST: z.string().default('0.0.0.0'),
  // Trust X-Forwarded-For (client IP for rate limits) only behind a proxy that sets it.
  TRUST_PROXY: bool.default(false),
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  DB_PREPARED_STATEMENTS: bool.default(true),
  REDIS_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ORG_NAME: z.string().min(1).default('Demo Clinic'),
  ORG_TIMEZONE: z.string().default('UTC'),
  ADMIN_EMAIL: z.string().email().default('admin@example.com'),
  ADMIN_PASSWORD: z.string().min(8).optional(),
  SEED_DEMO: bool.optional(),
  JWT_SECRET: z.string().min(32).optional(),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().positive().default(900),
  REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().positive().default(30),
  PASSWORD_RESET_TTL_MINUTES: z.coerce.number().int().positive().default(60),
  RATE_LIMITS_ENABLED: bool.default(true),
  PUBLIC_URL: z.string().url().optional(),
  /** "<id>:<base64 of 32 bytes>", comma-separated, the primary first (lib/encryption.ts). */
  ENCRYPTION_KEYS: z.string().optional().superRefine((spec, ctx) => {
    if (spec === undefined) return;
    try {
      parseKeyRing(spec);
    } catch (err) {
      if (!(err instanceof KeyRingError)) throw err;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message });
    }
  }),
  /** How often a new primary key is due (GET /system/encryption/status: next_rotation). */
  ENCRYPTION_KEY_ROTATION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  OPENAI_TIMEOUT_MS: z.coerce.number().int().positive().default(4000),
  // Voice messages staff send (POST /messages/voice) are transcribed by the same service when it is configured.
  OPENAI_TRANSCRIPTION_MODEL: z.string().default('whisper-1'),
  OPENAI_TRANSCRIPTION_TIMEOUT_MS: z.coerce.number().int().positive().default(15000),
  // Phone calls heard by our own speech to text and spoken by its text to speech (VOICE_RECOGNITION=stream).
  OPENAI_SPEECH_MODEL: z.string().default('gpt-4o-mini-tts'),
  OPENAI_SPEECH_VOICE: z.string().default('alloy'),
  OPENAI_SPEECH_TIMEOUT_MS: z.coerce.number().int().positive().default(8000),
  // Conversations read per query by the organization-wide export (messages: five times as many).
  EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(200),
  CONVERSATION_IDLE_MINUTES: z.coerce.number().int().positive().default(24 * 60),
  EMERGENCY_NUMBER: z.string().default('112'),
  DISPATCH_POLL_MS: z.coerce.number().int().positive().default(1000),
  REMINDER_TICK: z.string().default('*/15 * * * * *'),
  IDLE_CLOSE_TICK: z.string().default('0 * * * * *'),
  WEBHOOK_TICK: z.string().default('*/10 * * * * *'),
  HOUSEKEEPING_TICK: z.string().default('30 */10 * * * *'),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(10_000),
  SMS_RATE_PER_SECOND: z.coerce.number().positive().default(10),
  TWILIO_ACCOUNT_SID: z.string().optional(),
  TWILIO_AUTH_TOKEN: z.string().optional(),
  TWILIO_FROM_NUMBER: z.string().optional(),
  TWILIO_MESSAGING_SERVICE_SID: z.string().optional(),
  TWILIO_API_BASE_URL: z.string().url().optional(),
  /**
   * Who hears a caller: `twilio` (each answer a <Gather>, Twilio's recognizer) or
   * `stream` (the call's audio over the Media Streams WebSocket, our speech to text and text to speech).
   */
  VOICE_RECOGNITION: z.enum(['twilio', 'stream']).default('twilio'),
  /** Silence that ends what a caller says, on a streamed call. */
  VOICE_END_OF_SPEECH_MS: z.coerce.number().int().min(200).max(5000).default(700),
  /** Silence after which a streamed call asks again (twice), then says goodbye. */
  VOICE_NO_INPUT_MS: z.coerce.number().int().min(1000).max(60_000).default(6000),
  // WhatsApp Business Cloud API (Meta Graph API); the channel is off without the first three.
  WHATSAPP_ACCESS_TOKEN: z.string().optional(),
  WHATSAPP_PHONE_NUMBER_ID: z.string().optional(),
  WHATSAPP_APP_SECRET: z.string().optional(),
  WHATSAPP_VERIFY_TOKEN: z.string().optional(),
  WHATSAPP_API_BASE_URL: z.string().url().default('https://graph.facebook.com/v21.0'),
  WHATSAPP_RATE_PER_SECOND: z.coerce.number().positive().default(20),
  // Telegram (grammY): off without a bot token. Mode: webhook when PUBLIC_URL is set, else long polling.
  TELEGRAM_BOT_TOKEN: z.string().regex(/^\d+:[A-Za-z0-9_-]+$/, 'a bot token from @BotFather: <digits>:<secret>').optional(),
  TELEGRAM_MODE: z.enum(['webhook', 'polling']).optional(),
  TELEGRAM_WEBHOOK_SECRET: z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, '1-256 characters of A-Z, a-z, 0-9, _ and -').optional(),
  TELEGRAM_SET_WEBHOOK: bool.default(false),
  TELEGRAM_API_ROOT: z.string().url().optional(),
});

export type Config = z.infer<typeof schema> & { seedDemo: boolean; embedded: boolean };

export class ConfigError extends Error {}

/** Parses an environment (process.env by default) into a validated Config. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable (`FOO=`) means unset, as in most twelve-factor tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (!isValidTimeZone(c.ORG_TIMEZONE)) throw new ConfigError(`Invalid configuration:\n  ORG_TIMEZONE: unknown IANA time zone "${c.ORG_TIMEZONE}"`);
  if (c.NODE_ENV === 'production' && !c.ENCRYPTION_KEYS) {
    throw new ConfigError('Invalid configuration:\n  ENCRYPTION_KEYS: required in production (message content is health data); e.g. ENCRYPTION_KEYS=k1:$(openssl rand -base64 32)');
  }
  if (c.VOICE_RECOGNITION === 'stream' && !c.OPENAI_API_KEY && !c.OPENAI_BASE_URL) {
    throw new ConfigError('Invalid configuration:\n  VOICE_RECOGNITION: stream needs speech to text and text to speech: set OPENAI_API_KEY or OPENAI_BASE_URL');
  }
  const embedded = !c.DATABASE_URL;
  return { ...c, embedded, seedDemo: c.SEED_DEMO ?? embedded };
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
