/** Builds the engine from configuration: rules always, the LLM when OPENAI_API_KEY or OPENAI_BASE_URL is set. */
import type { Config } from '../lib/config.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import { ConversationEngine, type HandOver } from './engine.js';
import { createLlmUnderstander } from './understanding/llm.js';
import { RulesUnderstander } from './understanding/rules.js';
import type { Understander } from './understanding/types.js';
import type { HearVoiceNote } from '../lib/inbound.js';

export interface BuildEngineInput {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  onQueued: () => void;
  /** This instance's dispatcher takes the turn's replies straight from the commit (EngineOptions.handOver). */
  handOver?: HandOver;
  /** Fetches patients' voice notes, and hears them when speech to text is configured (EngineOptions.hearVoiceNote). */
  hearVoiceNote?: HearVoiceNote;
}

/** The understander the configuration asks for; the LLM falls back to the rules on its own. */
export function buildUnderstander(config: Config, logger: Logger): { understander: Understander; rules: Understander; llm: boolean } {
  const rules = new RulesUnderstander();
  const llm = createLlmUnderstander(
    { apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_MODEL, timeoutMs: config.OPENAI_TIMEOUT_MS },
    rules,
    (reason) => logger.warn({ reason }, 'LLM understanding failed; the rules answered'),
  );
  return { understander: llm ?? rules, rules, llm: Boolean(llm) };
}

export function buildEngine(input: BuildEngineInput): ConversationEngine {
  const { understander, rules, llm } = buildUnderstander(input.config, input.logger);
  input.logger.info({ understanding: llm ? 'llm' : 'rules' }, 'conversation engine ready');
  return new ConversationEngine({
    db: input.db, logger: input.logger, clock: input.clock, understander, rules,
    idleMinutes: input.config.CONVERSATION_IDLE_MINUTES, emergencyNumber: input.config.EMERGENCY_NUMBER, onQueued: input.onQueued,
    handOver: input.handOver, hearVoiceNote: input.hearVoiceNote, mediaBaseUrl: input.config.PUBLIC_URL,
  });
}
