/**
 * The reminder job (node-cron, REMINDER_TICK, noOverlap): each tick claims
 * the due reminders of every instance's database with SKIP LOCKED and a lease
 * (any number of instances may run it), writes each one in the patient's
 * language with the date and time in the clinic's zone, and queues it on the
 * patient's channel in the same transaction that marks it sent and makes the
 * patient's next reply the answer to it. Then the dispatcher is kicked.
 */
import { CronJob } from './cronTask.js';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import type { OrgScope } from '../models/base.js';
import { findOrCreateOpenConversation, latestConversationOfPatient, type Conversation } from '../models/conversations.js';
import { orgSettings } from '../models/settings.js';
import { Organization } from '../models/organizations.js';
import { PATIENT_LANGUAGES, type PatientLanguage } from '../models/patients.js';
import {
  claimDueReminders, failReminder, recordReminderQueued, recordRemindersQueued, skipReminder, skipReminders,
  type ClaimedReminder, type SetReminderContext,
} from '../models/reminders.js';
import { render } from '../bot/catalog/index.js';
import { addressKey, latestConversationsOfPatients, loadReminderSubjects, openConversationsFor, skipReason, type ReminderSubject } from './reminderBatch.js';

export interface ReminderJobOptions {
  db: Database;
  logger: Logger;
  clock: Clock;
  /** Cron expression (six fields allow seconds): config REMINDER_TICK. */
  schedule: string;
  /** How long a claim is ours; an older claim is retaken (a crashed instance). */
  leaseSeconds: number;
  /** Reminders claimed per round (a tick runs rounds until nothing is due). */
  batchSize?: number;
  /** Reminders rendered and queued at once within a round. */
  concurrency?: number;
  /** A reminder claimed this many times without being recorded fails. */
  maxAttempts?: number;
  /** CONVERSATION_IDLE_MINUTES: a silent open conversation is closed and a new one opened. */
  idleMinutes: number;
  /** Only these organizations (sharding by tenant; tests). */
  organizationIds?: readonly string[];
  /** bot/engine.ts setReminderContext, handed in by main.ts. */
  setContext?: SetReminderContext;
  /** After a round that queued messages: wake the dispatcher. */
  onQueued?: () => void;
}

export interface TickResult { claimed: number; queued: number; skipped: number; failed: number; lost: number }

/** A claimed reminder that is to go out, rendered. */
interface ReadyReminder { r: ClaimedReminder; s: ReminderSubject; lang: PatientLanguage; text: string }

/** Fewest reminders recorded per transaction (a chunk); rounds are split across `concurrency` chunks above that. */
const MIN_CHUNK = 25;

interface OrgInfo { timeZone: string; defaultLanguage: PatientLanguage }

const asLanguage = (v: string | null | undefined): PatientLanguage | null => (PATIENT_LANGUAGES as readonly string[]).includes(v ?? '') ? (v as PatientLanguage) : null;

/** "martes 25 de noviembre", "Tuesday 25 November", "dimarts 25 de novembre" / "d'abril", "मंगलवार 25 नवंबर". */
export function reminderDate(at: Date, lang: PatientLanguage, timeZone: string): { date: string; time: string } {
  const dt = DateTime.fromJSDate(at, { zone: timeZone }).setLocale(lang);
  const month = dt.toFormat('LLLL');
  const day = `${dt.toFormat('cccc')} ${dt.toFormat('d')}`;
  const date = lang === 'es' ? `${day} de ${month}` : lang === 'ca' ? `${day} ${/^[aeiouàèéíòóú]/i.test(month) ? `d'${month}` : `de ${month}`}` : `${day} ${month}`;
  return { date, time: dt.toFormat('HH:mm') };
}

export class ReminderJob extends CronJob<TickResult> {
  constructor(private readonly opts: ReminderJobOptions) {
    super({ name: 'reminders', setting: 'REMINDER_TICK', schedule: opts.schedule, logger: opts.logger });
  }

  private get knex(): Knex {
    return this.opts.db.knex;
  }

  /** One run: claims and processes due reminders until none is left. */
  protected async run(): Promise<TickResult> {
    const total: TickResult = { claimed: 0, queued: 0, skipped: 0, failed: 0, lost: 0 };
    const batch = this.opts.batchSize ?? 100;
    const orgs = new Map<string, OrgInfo>();
    for (;;) {
      const now = this.opts.clock.now();
      const claimed = await claimDueReminders(this.knex, { now, limit: batch, leaseSeconds: this.opts.leaseSeconds, organizationIds: this.opts.organizationIds });
      if (claimed.length === 0) break;
      total.claimed += claimed.length;
      await this.runRound(claimed, now, orgs, total);
      if (total.queued > 0) this.opts.onQueued?.();
      if (claimed.length < batch) break;
    }
    if (total.claimed > 0) this.opts.logger.info({ ...total }, 'reminders: tick done');
    return total;
  }

  private async orgInfo(orgId: string, cache: Map<string, OrgInfo>): Promise<OrgInfo> {
    let info = cache.get(orgId);
    if (!info) {
      const org = await Organization.query(this.knex).findById(orgId);
      info = { timeZone: org?.time_zone ?? 'UTC', defaultLanguage: org ? orgSettings(org).default_language : 'en' };
      cache.set(orgId, info);
    }
    return info;
  }

  /**
   * One round, set-wise: subjects read in one query, skips written in one
   * statement, the rest recorded in chunks of many reminders per transaction
   * (recordRemindersQueued). A chunk that fails rolls back whole and its
   * reminders go one by one through process() (their claims are still ours).
   */
  private async runRound(claimed: readonly ClaimedReminder[], now: Date, orgs: Map<string, OrgInfo>, total: TickResult): Promise<void> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    const oneByOne = claimed.filter((r) => r.attempts > maxAttempts);
    const fresh = claimed.filter((r) => r.attempts <= maxAttempts);
    let chunks: ReadyReminder[][] = [];
    try {
      const subjects = await loadReminderSubjects(this.knex, fresh, now);
      const skips: { r: ClaimedReminder; claim: { id: string; attempts: number }; reason: string }[] = [];
      const ready: ReadyReminder[] = [];
      for (const r of fresh) {
        const s = subjects.get(r.id);
        const reason = skipReason(s, now);
        if (reason || !s) {
          skips.push({ r, claim: { id: r.id, attempts: r.attempts }, reason: reason ?? 'appointment_deleted' });
          continue;
        }
        const org = await this.orgInfo(r.organization_id, orgs);
        const lang = asLanguage(s.preferred_language) ?? org.defaultLanguage;
        const { date, time } = reminderDate(new Date(s.start_time), lang, org.timeZone);
        ready.push({ r, s, lang, text: render(lang, 'reminder', { doctor: s.doctor_name, date, time }) });
      }
      const skipped = await skipReminders(this.knex, skips, now);
      for (const { r, reason } of skips) {
        const log = { reminder_id: r.id, appointment_id: r.appointment_id, attempt: r.attempts };
        if (skipped.has(r.id)) this.opts.logger.info({ ...log, reason }, 'reminders: skipped');
        else this.opts.logger.warn(log, 'reminders: the claim was lost before it was recorded (moved, cancelled or retaken)');
        total[skipped.has(r.id) ? 'skipped' : 'lost'] += 1;
      }
      chunks = this.chunk(ready);
    } catch (err) {
      this.opts.logger.warn({ err: { message: (err as Error).message } }, 'reminders: round could not be prepared; one by one');
      oneByOne.push(...fresh);
    }
    const work: (() => Promise<void>)[] = [
      ...oneByOne.map((r) => async () => { total[await this.process(r, now, orgs)] += 1; }),
      ...chunks.map((c) => () => this.queueChunk(c, now, orgs, total)),
    ];
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 4, work.length) }, async () => {
      for (let w = work.shift(); w; w = work.shift()) await w();
    }));
  }

  /** Ready reminders in chunks of one organization, a patient's reminders in one chunk (no two chunks race on an address). */
  private chunk(ready: ReadyReminder[]): ReadyReminder[][] {
    const size = Math.max(MIN_CHUNK, Math.ceil(ready.length / (this.opts.concurrency ?? 4)));
    const sorted = [...ready].sort((a, b) => (a.r.organization_id === b.r.organization_id
      ? (a.s.patient_id < b.s.patient_id ? -1 : a.s.patient_id > b.s.patient_id ? 1 : 0)
      : a.r.organization_id < b.r.organization_id ? -1 : 1));
    const chunks: ReadyReminder[][] = [];
    for (const item of sorted) {
      const last = chunks.at(-1);
      const prev = last?.at(-1);
      const sameOrg = prev?.r.organization_id === item.r.organization_id;
      if (last && sameOrg && (last.length < size || prev?.s.patient_id === item.s.patient_id)) last.push(item);
      else chunks.push([item]);
    }
    return chunks;
  }

  /** Records one chunk in one transaction; on failure its reminders go one by one. Never throws. */
  private async queueChunk(chunk: ReadyReminder[], now: Date, orgs: Map<string, OrgInfo>, total: TickResult): Promise<void> {
    const scope: OrgScope = { organizationId: chunk[0]!.r.organization_id };
    let outcome: { queued: Set<string>; skipped: Set<string> };
    try {
      outcome = await this.knex.transaction(async (trx) => {
        const latest = await latestConversationsOfPatients(trx, scope, [...new Set(chunk.map((c) => c.s.patient_id))]);
        const routed: (ReadyReminder & { channel: string; address: string })[] = [];
        const noAddress: ReadyReminder[] = [];
        for (const c of chunk) {
          const l = latest.get(c.s.patient_id);
          const where = l ? { channel: l.channel, address: l.channel_address } : c.s.phone ? { channel: 'sms', address: c.s.phone } : null;
          if (where) routed.push({ ...c, ...where }); else noAddress.push(c);
        }
        const conversations = await openConversationsFor(trx, scope, routed.map((c) => ({ channel: c.channel, address: c.address, patientId: c.s.patient_id, language: c.lang })),
          this.opts.idleMinutes, now);
        const skipped = await skipReminders(trx, noAddress.map((c) => ({ claim: { id: c.r.id, attempts: c.r.attempts }, reason: 'no_address' })), now);
        const queued = await recordRemindersQueued(trx, scope, routed.map((c) => ({
          claim: { id: c.r.id, attempts: c.r.attempts }, appointmentId: c.r.appointment_id, patientId: c.s.patient_id,
          conversationId: conversations.get(addressKey(c.channel, c.address))!, channel: c.channel, to: c.address, text: c.text, now, setContext: this.opts.setContext,
        })), now);
        return { queued, skipped };
      });
    } catch (err) {
      this.opts.logger.warn({ err: { message: (err as Error).message }, reminders: chunk.length }, 'reminders: chunk failed; one by one');
      for (const c of chunk) total[await this.process(c.r, now, orgs)] += 1;
      return;
    }
    for (const { r } of chunk) {
      const log = { reminder_id: r.id, appointment_id: r.appointment_id, attempt: r.attempts };
      const result = outcome.queued.has(r.id) ? 'queued' : outcome.skipped.has(r.id) ? 'skipped' : 'lost';
      if (result === 'lost') this.opts.logger.warn(log, 'reminders: the claim was lost before it was recorded (moved, cancelled or retaken)');
      else this.opts.logger.info({ ...log, outcome: result }, result === 'queued' ? 'reminders: queued' : 'reminders: skipped (no address)');
      total[result] += 1;
    }
  }

  /** One claimed reminder: skipped, queued, or (after too many claims) failed. Never throws. */
  private async process(r: ClaimedReminder, now: Date, orgs: Map<string, OrgInfo>): Promise<Exclude<keyof TickResult, 'claimed'>> {
    const claim = { id: r.id, attempts: r.attempts };
    const log = { reminder_id: r.id, appointment_id: r.appointment_id, attempt: r.attempts };
    try {
      if (r.attempts > (this.opts.maxAttempts ?? 5)) {
        await failReminder(this.knex, claim, 'max_attempts', now);
        this.opts.logger.warn(log, 'reminders: gave up after repeated claims');
        return 'failed';
      }
      const s = (await this.knex('appointments as a').join('patients as p', 'p.id', 'a.patient_id').join('doctors as d', 'd.id', 'a.doctor_id')
        .where({ 'a.id': r.appointment_id, 'a.organization_id': r.organization_id })
        .select('a.status', 'a.start_time', 'a.patient_id', 'p.phone', 'p.preferred_language', 'p.opted_out_at', 'p.deleted_at', 'd.name as doctor_name',
          this.knex.raw(`(SELECT count(*) FROM reminders o WHERE o.appointment_id = a.id AND o.offset_minutes < ? AND o.due_at <= ?
            AND o.status IN ('pending', 'claimed', 'sent'))::int AS newer_due`, [r.offset_minutes, now]))
        .first()) as ReminderSubject | undefined;
      const reason = skipReason(s, now);
      if (reason || !s) {
        await skipReminder(this.knex, claim, reason ?? 'appointment_deleted', now);
        this.opts.logger.info({ ...log, reason }, 'reminders: skipped');
        return 'skipped';
      }
      const scope: OrgScope = { organizationId: r.organization_id };
      const org = await this.orgInfo(r.organization_id, orgs);
      const lang = asLanguage(s.preferred_language) ?? org.defaultLanguage;
      const { date, time } = reminderDate(new Date(s.start_time), lang, org.timeZone);
      const text = render(lang, 'reminder', { doctor: s.doctor_name, date, time });
      const outcome = await this.knex.transaction(async (trx) => {
        const conversation = await this.target(trx, scope, s, lang, now);
        if (!conversation) return (await skipReminder(trx, claim, 'no_address', now)) ? 'skipped' : 'lost';
        const message = await recordReminderQueued(trx, scope, claim, {
          appointmentId: r.appointment_id, patientId: s.patient_id, conversationId: conversation.id, channel: conversation.channel,
          to: conversation.channel_address, text, now, setContext: this.opts.setContext,
        });
        return message ? 'queued' : 'lost';
      });
      if (outcome === 'lost') this.opts.logger.warn(log, 'reminders: the claim was lost before it was recorded (moved, cancelled or retaken)');
      else this.opts.logger.info({ ...log, outcome }, outcome === 'queued' ? 'reminders: queued' : 'reminders: skipped (no address)');
      return outcome;
    } catch (err) {
      // Left claimed: the lease runs out and a later tick (here or elsewhere) tries again.
      this.opts.logger.error({ ...log, err: { message: (err as Error).message } }, 'reminders: could not process a reminder');
      return 'lost';
    }
  }

  /** The patient's latest conversation's channel (an open conversation there), else SMS to a known phone, else none. */
  private async target(trx: Knex.Transaction, scope: OrgScope, s: ReminderSubject, lang: PatientLanguage, now: Date): Promise<Conversation | null> {
    const latest = await latestConversationOfPatient(trx, scope, s.patient_id);
    const where = latest ? { channel: latest.channel, address: latest.channel_address } : s.phone ? { channel: 'sms', address: s.phone } : null;
    if (!where) return null;
    return findOrCreateOpenConversation(trx, scope, { ...where, patientId: s.patient_id, language: lang, idleMinutes: this.opts.idleMinutes, now });
  }
}
