/** Shared pieces of the engine tests: a fixed-clock service, inbound messages as adapters make them, and reading the bot's replies. */
import { randomBytes } from 'node:crypto';
import type { InboundMessage, InboundResult } from '../../channels/types.js';
import type { RunningService } from '../../main.js';
import { Message } from '../../models/messages.js';
import { Conversation } from '../../models/conversations.js';
import { Patient } from '../../models/patients.js';
import { fixedClock } from '../../lib/clock.js';
import { buildDoctor, createTestOrg, type TestOrg } from '../support/factories.js';
import { startExtraService } from '../support/service.js';

/** Tuesday 5 March 2030, 10:00 in Madrid. */
export const NOW = new Date('2030-03-05T09:00:00Z');
export const TZ = 'Europe/Madrid';

export function engineClock() {
  return fixedClock(NOW);
}

export interface Clinic extends TestOrg {
  cardiology: { id: string; name: string };
  dermatology: { id: string; name: string };
}

/** An organization in Madrid with a cardiologist and a dermatologist working every day 08:00-20:00. */
export async function buildClinic(svc: RunningService, settings: Record<string, unknown> = {}): Promise<Clinic> {
  const t = await createTestOrg({ svc, timeZone: TZ, settings });
  const cardiology = await buildDoctor(t, { name: 'Dr. Elena García', specialization: 'Cardiology' });
  const dermatology = await buildDoctor(t, { name: 'Dr. Raj Patel', specialization: 'Dermatology' });
  return { ...t, cardiology, dermatology };
}

const unique = () => randomBytes(6).toString('hex');

/** A patient (or visitor) on one channel address, writing to the engine as the adapter would. */
export class Chat {
  conversationId: string | null = null;
  /** `engine`: another engine on the service's database (default the service's own). */
  constructor(
    readonly svc: RunningService, readonly orgId: string, readonly channel: InboundMessage['channel'], readonly from: string,
    private readonly engine: Pick<RunningService['engine'], 'handleInbound'> = svc.engine,
  ) {}

  async send(text: string, extra: Partial<InboundMessage> = {}): Promise<InboundResult> {
    const result = await this.engine.handleInbound({
      organizationId: this.orgId, channel: this.channel, from: this.from, providerMessageId: this.channel === 'webchat' ? null : `prov-${unique()}`,
      clientMessageId: this.channel === 'webchat' ? `c-${unique()}` : null, text, receivedAt: this.svc.deps.clock.now(),
      conversationId: this.conversationId, ...extra,
    });
    this.conversationId = result.conversationId;
    return result;
  }

  /** Sends `text` and returns the replies it produced, oldest first. */
  async say(text: string): Promise<Message[]> {
    const before = await this.replies();
    await this.send(text);
    const after = await this.replies();
    return after.slice(before.length);
  }

  async replies(): Promise<Message[]> {
    if (!this.conversationId) return [];
    return Message.query(this.svc.deps.db.knex).where({ conversation_id: this.conversationId, direction: 'outbound' }).orderBy('id');
  }

  async inbound(): Promise<Message[]> {
    if (!this.conversationId) return [];
    return Message.query(this.svc.deps.db.knex).where({ conversation_id: this.conversationId, direction: 'inbound' }).orderBy('id');
  }

  async conversation(): Promise<Conversation> {
    return (await Conversation.query(this.svc.deps.db.knex).findById(this.conversationId!))!;
  }
}

export const keys = (msgs: Message[]) => msgs.map((m) => String(m.metadata.reply_key));

export async function reloadPatient(svc: RunningService, id: string): Promise<Patient> {
  return (await Patient.query(svc.deps.db.knex).findById(id))!;
}

export async function startEngineService(overrides: Record<string, string> = {}): Promise<RunningService> {
  return startExtraService(overrides, engineClock());
}
