/**
 * Composition root: config -> database -> engine -> channels -> API -> schedulers,
 * and graceful shutdown. `startService` is what tests and benchmarks start too.
 */
import fs from 'node:fs';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from './lib/config.js';
import { createLogger, type Logger } from './lib/logger.js';
import { systemClock, type Clock } from './lib/clock.js';
import { openDatabase, type Database } from './models/db.js';
import { keyRingOf, recordPrimaryKeyInUse, useKeyRing } from './models/encryption.js';
import { parseKeyRing } from './lib/encryption.js';
import { whatsappTemplateLookup } from './models/settings.js';
import { CLINIC_CHANGED_CHANNEL } from './models/clinicChanges.js';
import { bootstrap } from './models/bootstrap.js';
import { createTokenService, loadSigningKey } from './models/tokens.js';
import { createApp } from './api/app.js';
import { createRateLimits } from './api/http/rateLimit.js';
import type { AppDeps } from './api/deps.js';
import { unauthorized } from './lib/errors.js';
import type { OnInbound } from './channels/types.js';
import { WebchatAdapter } from './channels/webchat/adapter.js';
import { createUpgradeRouter } from './channels/webchat/upgrade.js';
import { ChannelRegistry } from './channels/registry.js';
import { voiceNoteListener } from './channels/voiceNotes.js';
import { createTranscriber } from './lib/transcription.js';
import { DEFAULT_BACKOFF_MS, OutboundDispatcher } from './channels/dispatcher.js';
import { buildEngine } from './bot/build.js';
import { setReminderContext, type ConversationEngine } from './bot/engine.js';
import { render } from './bot/catalog/index.js';
import { TwilioSmsAdapter } from './channels/sms/adapter.js';
import { createSmsWebhooks } from './channels/sms/webhooks.js';
import { TwilioVoiceAdapter, VOICE_STREAM_PATH } from './channels/voice/adapter.js';
import { createVoiceWebhooks } from './channels/voice/webhooks.js';
import { VoiceStreamServer } from './channels/voice/streamServer.js';
import { SpeechCache } from './channels/voice/speechCache.js';
import type { SayLine } from './channels/voice/callScript.js';
import { createSpeaker } from './lib/speech.js';
import { WhatsAppCloudAdapter } from './channels/whatsapp/adapter.js';
import { createWhatsAppWebhooks } from './channels/whatsapp/webhooks.js';
import { TelegramAdapter } from './channels/telegram/adapter.js';
import { createTelegramInbound } from './channels/telegram/webhooks.js';
import { createSchedulers, WEBHOOKS_CHANNEL, type Schedulers } from './schedulers/index.js';

export interface StartOptions {
  config?: Config;
  /** An already open database (tests share one); closed by the caller, not by the service. */
  db?: Database;
  logger?: Logger;
  clock?: Clock;
  /** Skip bootstrap (tests create their own organizations). */
  skipBootstrap?: boolean;
  /** Where inbound channel messages go (the conversation engine); tests may hand in their own. */
  onInbound?: OnInbound;
  /** Run the outbound dispatcher in this service (default true). */
  dispatcher?: boolean;
  /** Run the scheduled jobs (reminders) in this service (default true). */
  schedulers?: boolean;
  /** Only these organizations' outbound messages and reminders are worked on here (tenant sharding; tests). */
  organizationIds?: readonly string[];
  /** Lease of a dispatcher or reminder claim in seconds (default 60): a crashed instance's work is retaken after it. */
  leaseSeconds?: number;
}

export interface RunningService {
  url: string;
  port: number;
  deps: AppDeps;
  server: http.Server;
  /** The web chat channel (WebSocket at /chat on `server`). */
  webchat: WebchatAdapter;
  /** The SMS channel (Twilio); off without credentials. */
  sms: TwilioSmsAdapter;
  /** The WhatsApp channel (Cloud API); off without credentials. */
  whatsapp: WhatsAppCloudAdapter;
  schedulers: Schedulers;
  /** The conversation engine; `engine.handleInbound` is every channel's onInbound unless StartOptions.onInbound replaced it. */
  engine: ConversationEngine;
  channels: ChannelRegistry;
  dispatcher: OutboundDispatcher;
  stop(): Promise<void>;
}

export async function startService(opts: StartOptions = {}): Promise<RunningService> {
  const config = opts.config ?? loadConfig();
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? systemClock;
  const ownsDb = !opts.db;
  const keyRing = config.ENCRYPTION_KEYS ? parseKeyRing(config.ENCRYPTION_KEYS) : null;
  const db = opts.db ?? (await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, preparedStatements: config.DB_PREPARED_STATEMENTS, keyRing }));
  // A database handed in keeps the key ring it was opened with unless this configuration names one.
  if (opts.db && keyRing) useKeyRing(db.knex, keyRing);
  logger.info({ backend: db.kind }, 'database ready, migrations applied');
  if (keyRingOf(db.knex)) await recordPrimaryKeyInUse(db.knex, clock.now());
  else logger.warn('ENCRYPTION_KEYS is not set: message content is stored unencrypted (required in production)');

  if (!opts.skipBootstrap) {
    const result = await bootstrap(db.knex, {
      orgName: config.ORG_NAME, timeZone: config.ORG_TIMEZONE, adminEmail: config.ADMIN_EMAIL,
      adminPassword: config.ADMIN_PASSWORD, seedDemo: config.seedDemo,
    });
    if (result.created) {
      logger.info({ organization_id: result.organizationId, demo: config.seedDemo }, 'created the first organization');
      if (result.generatedPassword) {
        // Printed once on purpose, on stdout rather than the log stream, so an operator sees it.
        process.stdout.write(`\n  CareChat admin login (shown once):\n    email:    ${config.ADMIN_EMAIL}\n    username: admin\n    password: ${result.generatedPassword}\n\n`);
      }
    }
  }

  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: false }) : null;
  const tokens = createTokenService(await loadSigningKey(db.knex, config.JWT_SECRET), config.ACCESS_TOKEN_TTL_SECONDS, () => clock.now());
  const deps: AppDeps = {
    config, db, logger, clock, tokens,
    rateLimits: createRateLimits({ enabled: config.RATE_LIMITS_ENABLED, redis }),
    hooks: {},
    startedAt: new Date(),
    transcriber: createTranscriber(config, logger),
    unauthorized: () => unauthorized(),
  };
  // Provider webhooks are mounted with the app; they reach the engine once it exists (below).
  const sms = new TwilioSmsAdapter({ config, logger });
  deps.extraRouters = [createSmsWebhooks({
    config, db, logger, clock, onInbound: (msg) => onInbound(msg), onQueued: () => dispatcher.kick(),
    keywordReply: (lang, kind) => render(lang, kind),
  })];
  // Calls: Twilio's speech recognition hears the caller, the engine answers, and the replies are spoken in TwiML;
  // with VOICE_RECOGNITION=stream the call's audio comes over a Media Stream, heard and spoken by our speech service.
  const say: SayLine = (lang, key, params) => render(lang, key, params);
  const speaker = createSpeaker(config, logger);
  const voiceStreams = config.VOICE_RECOGNITION === 'stream' && config.TWILIO_AUTH_TOKEN && deps.transcriber && speaker
    ? new VoiceStreamServer({
      config, db, logger, clock, onInbound: (msg) => onInbound(msg), say, transcriber: deps.transcriber, speaker, speech: new SpeechCache(),
      endOfSpeechMs: config.VOICE_END_OF_SPEECH_MS, noInputMs: config.VOICE_NO_INPUT_MS,
    })
    : null;
  const voice = new TwilioVoiceAdapter({ config, streams: voiceStreams });
  deps.extraRouters.push(createVoiceWebhooks({
    config, db, logger, clock, onInbound: (msg) => onInbound(msg), welcome: (input) => engine.welcome(input), say,
    recognition: voiceStreams ? 'stream' : 'twilio',
  }));
  // Outside WhatsApp's 24-hour window a message goes out as the organization's template (settings.whatsapp_template).
  const whatsappTemplates = whatsappTemplateLookup(db.knex);
  const whatsapp = new WhatsAppCloudAdapter({ config, logger, templateFor: whatsappTemplates });
  deps.extraRouters.push(createWhatsAppWebhooks({ config, db, logger, clock, onInbound: (msg) => onInbound(msg) }));
  // Telegram (grammY): the webhook and long polling both lead to one update handler; off without a bot token.
  const telegram = new TelegramAdapter({ config, logger });
  const telegramInbound = createTelegramInbound({ config, db, logger, clock, adapter: telegram, onInbound: (msg) => onInbound(msg) });
  telegram.setUpdateHandler(telegramInbound.handleUpdate);
  deps.extraRouters.push(telegramInbound.router);

  const { app } = createApp(deps);
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  // Inbound: adapter -> engine -> queued rows; outbound: dispatcher -> registry -> adapter.send.
  const engine = buildEngine({
    config, db, logger, clock, onQueued: () => dispatcher.kick(),
    handOver: { claimUntil: (channel, orgId) => dispatcher.claimUntil(channel, orgId), sendClaimed: (messages) => dispatcher.sendClaimed(messages) },
    // Patients' voice notes are kept for staff (the channel downloads) and heard where speech to text is configured.
    hearVoiceNote: voiceNoteListener({ adapters: [sms, whatsapp, telegram], transcriber: deps.transcriber ?? null }),
  });
  const stopListeningForClinicChanges = await engine.listenForClinicChanges();
  // A settings update NOTIFYs every instance: the next send outside WhatsApp's window uses the new template.
  const stopListeningForTemplateChanges = await db.listen(CLINIC_CHANGED_CHANNEL, (organizationId) => whatsappTemplates.invalidate(organizationId || undefined));
  const onInbound = opts.onInbound ?? engine.handleInbound;
  const webchat = new WebchatAdapter({ db, logger, clock, onInbound, idleMinutes: config.CONVERSATION_IDLE_MINUTES });
  const channels = new ChannelRegistry([webchat, sms, whatsapp, telegram, voice]);
  const leaseSeconds = opts.leaseSeconds ?? 60;
  const dispatcher = new OutboundDispatcher(db, channels, logger, {
    pollMs: config.DISPATCH_POLL_MS, batchSize: 50, leaseSeconds, maxAttempts: 5, backoff: DEFAULT_BACKOFF_MS,
    // Only channels this instance can send on: another instance with credentials sends the rest.
    channels: channels.list().filter((a) => a.enabled && a.dispatched !== false).map((a) => a.name), organizationIds: opts.organizationIds,
  });
  const schedulers = createSchedulers({
    reminders: {
      db, logger, clock, schedule: config.REMINDER_TICK, leaseSeconds, idleMinutes: config.CONVERSATION_IDLE_MINUTES,
      organizationIds: opts.organizationIds, setContext: setReminderContext, onQueued: () => dispatcher.kick(),
    },
    idleConversations: { db, logger, clock, idleMinutes: config.CONVERSATION_IDLE_MINUTES, schedule: config.IDLE_CLOSE_TICK, organizationIds: opts.organizationIds },
    webhooks: { db, logger, schedule: config.WEBHOOK_TICK, timeoutMs: config.WEBHOOK_TIMEOUT_MS, leaseSeconds, organizationIds: opts.organizationIds },
    housekeeping: { db, logger, clock, schedule: config.HOUSEKEEPING_TICK },
  });
  await channels.startAll();
  if (opts.dispatcher !== false) dispatcher.start();
  if (opts.schedulers !== false) schedulers.start();
  // Deliveries queued by a commit on any instance go out at once, from whichever instance claims them first.
  const stopListeningForWebhooks = opts.schedulers !== false
    ? await db.listen(WEBHOOKS_CHANNEL, () => schedulers.webhooks.kick())
    : async () => undefined;
  deps.hooks.deliverWebhookNow = (deliveryId) => schedulers.webhooks.deliverNow(deliveryId);
  deps.hooks.outboundQueued = () => dispatcher.kick();
  deps.hooks.channelStatus = () => channels.health();
  if (voiceStreams) deps.hooks.voiceStreams = () => ({ open: voiceStreams.size, ...voiceStreams.stats });
  deps.hooks.staffMessageQueued = (conversationId, messageId) => {
    webchat.pushStoredMessage(conversationId, messageId).catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'web chat: pushing a staff reply failed'));
  };
  const upgrades = createUpgradeRouter();
  upgrades.route('/chat', (req, socket, head) => webchat.handleUpgrade(req, socket, head));
  if (voiceStreams) upgrades.routePrefix(VOICE_STREAM_PATH, (req, socket, head) => voiceStreams.handleUpgrade(req, socket, head));
  upgrades.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  logger.info({ port }, 'CareChat is listening');

  let stopping: Promise<void> | null = null;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      // Stop accepting, let in-flight requests finish, then drop idle keep-alive sockets.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Upgraded sockets keep server.close() waiting: close them (1001, the widget reconnects elsewhere).
      await channels.stopAll();
      // A reminder tick in progress and the sends in flight are recorded before the database closes.
      await stopListeningForWebhooks();
      await schedulers.stop();
      await dispatcher.stop();
      await stopListeningForClinicChanges();
      await stopListeningForTemplateChanges();
      const force = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(force);
      await redis?.quit().catch(() => undefined);
      if (ownsDb) await db.close();
      logger.info('stopped');
    })();
    return stopping;
  }

  return { url, port, deps, server, webchat, sms, whatsapp, schedulers, engine, channels, dispatcher, stop };
}

async function main(): Promise<void> {
  // A local .env is optional; real deployments set the environment directly.
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  const service = await startService({ config });
  const onSignal = (signal: string) => {
    service.deps.logger.info({ signal }, 'shutting down');
    service.stop().then(() => process.exit(0), (err) => {
      service.deps.logger.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`CareChat failed to start: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
