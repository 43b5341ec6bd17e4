import assert from 'node:assert/strict';
import type { RunningService } from '../../main.js';
import { ConversationEngine } from '../../bot/engine.js';
import { RulesUnderstander } from '../../bot/understanding/rules.js';
import type { Understander } from '../../bot/understanding/types.js';
import { createLogger } from '../../lib/logger.js';
import { Appointment } from '../../models/appointments.js';
import { closeConversation, Conversation, deleteConversation, handoffConversation, updateDialogueState } from '../../models/conversations.js';
import { buildAppointment, buildPatient, buildWebchatSession, uniquePhone } from '../support/factories.js';
import { Patient } from '../../models/patients.js';
import { buildClinic, Chat, keys, NOW, startEngineService } from './engineSupport.js';

/**
 * A turn starts from the conversation as the one-statement store read it and
 * takes no lock until it writes (bot/runtime/turnDb.ts). These tests make
 * something else change the conversation at the worst moment: between the store
 * and the turn's save (the understanding runs there).
 */
describe('conversation engine: turns without a lock and the races they can lose', function () {
  this.timeout(30_000);
  let svc: RunningService;
  /** Runs once, during the understanding of the next message with this text. */
  const during = new Map<string, () => Promise<void>>();
  let engine: ConversationEngine;

  before(async () => {
    svc = await startEngineService();
    const rules = new RulesUnderstander();
    const hooked: Understander = {
      async understand(text, ctx) {
        const hook = during.get(text);
        during.delete(text);
        await hook?.();
        return rules.understand(text, ctx);
      },
    };
    engine = new ConversationEngine({
      db: svc.deps.db, logger: createLogger('silent'), clock: svc.deps.clock, understander: hooked, rules, idleMinutes: 60, emergencyNumber: '112',
    });
  });
  afterEach(() => during.clear());

  async function patientChat() {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { name: 'Ana López', preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!, engine);
    return { t, ana, chat, scope: { organizationId: t.org.id } };
  }

  /**
   * The statements run for the organization `orgId` while `fn` runs (those bound
   * to its id: the turn's, not the dispatcher's or another test service's), and
   * whether each ran inside a transaction.
   */
  async function statementsDuring(orgId: string, fn: () => Promise<unknown>): Promise<{ sql: string; inTransaction: boolean }[]> {
    const seen: { sql: string; inTransaction: boolean }[] = [];
    const onQuery = (q: { sql: string; bindings?: unknown[]; __knexTxId?: string }) => {
      if (q.bindings?.includes(orgId)) seen.push({ sql: q.sql, inTransaction: Boolean(q.__knexTxId) });
    };
    svc.deps.db.knex.on('query', onQuery);
    try {
      await fn();
    } finally {
      svc.deps.db.knex.removeListener('query', onQuery);
    }
    return seen;
  }

  /** Asserts the turn ran its statements (at least the store and the save) outside any transaction, locking nothing. */
  function assertNoTransaction(statements: { sql: string; inTransaction: boolean }[]): void {
    const listing = statements.map((st) => `${st.inTransaction ? '[tx] ' : ''}${st.sql}`).join('\n');
    assert.ok(statements.length >= 2, listing);
    assert.equal(statements.filter((st) => st.inTransaction).length, 0, listing);
    assert.equal(statements.filter((st) => /for update/i.test(st.sql)).length, 0, listing);
  }

  it('a turn that only reads opens no transaction and locks nothing: store, slot search, save', async () => {
    const { t, chat } = await patientChat();
    assert.deepEqual(keys(await chat.say('I want to book an appointment')), ['ask_specialty']);
    let replies: Awaited<ReturnType<Chat['say']>> = [];
    assertNoTransaction(await statementsDuring(t.org.id, async () => { replies = await chat.say('1'); }));
    assert.deepEqual(keys(replies), ['ask_day']);
    assert.equal((await chat.conversation()).state_version, 2);
  });

  it('a web chat visitor\'s name, before the phone number, waits in the dialogue state without a transaction; the number then makes the patient', async () => {
    const t = await buildClinic(svc);
    const session = await buildWebchatSession(t, NOW);
    const chat = new Chat(svc, t.org.id, 'webchat', session.sessionId, engine);
    chat.conversationId = session.conversationId;
    await chat.say('hello');
    assert.deepEqual(keys(await chat.say('1')), ['ask_name']);
    let replies: Awaited<ReturnType<Chat['say']>> = [];
    assertNoTransaction(await statementsDuring(t.org.id, async () => { replies = await chat.say('Marta Vidal'); }));
    assert.deepEqual(keys(replies), ['nice_to_meet', 'ask_phone']);
    assert.equal((await chat.conversation()).patient_id, null);
    const phone = uniquePhone();
    assert.deepEqual(keys(await chat.say(phone)), ['ask_specialty']);
    const patient = await Patient.query(svc.deps.db.knex).findById((await chat.conversation()).patient_id!);
    assert.equal(patient?.name, 'Marta Vidal');
  });

  it('a turn whose conversation moved on before its save is played again on the newer state, with one set of replies', async () => {
    const { chat, scope } = await patientChat();
    assert.deepEqual(keys(await chat.say('blorp')), ['not_understood', 'menu']);
    // Meanwhile another turn counted a second misunderstanding: this one is then the third, which offers a person.
    during.set('grrr', async () => {
      const c = await chat.conversation();
      await updateDialogueState(svc.deps.db.knex, scope, c.id, c.state_version, { ...(c.dialogue_state as Record<string, unknown>), misunderstood: 2 });
    });
    assert.deepEqual(keys(await chat.say('grrr')), ['offer_person']);
    const c = await chat.conversation();
    assert.equal(c.state_version, 3, 'our first save, the other one, then ours played again');
    assert.equal(c.message_count, (await chat.inbound()).length + (await chat.replies()).length, 'the lost attempt queued nothing');
    assert.equal((await chat.replies()).length, 3);
  });

  /** Ana at the confirmation of the first dermatology slot tomorrow; returns the slot offered. */
  async function atConfirmation() {
    const c = await patientChat();
    await c.chat.say('I want to book an appointment');
    await c.chat.say('2'); // dermatology
    const offers = await c.chat.say('tomorrow');
    assert.deepEqual(keys(offers), ['offer_slots']);
    assert.deepEqual(keys(await c.chat.say('1')), ['confirm_booking']);
    const chosen = (await c.chat.conversation()).dialogue_state as { data: { chosen: { startTime: string } } };
    return { ...c, startTime: new Date(chosen.data.chosen.startTime) };
  }

  it('a slot someone took since it was offered: the yes finds it with one read, answers with fresh times and opens no transaction', async () => {
    const { t, ana, chat, startTime } = await atConfirmation();
    const other = await buildPatient(t);
    await buildAppointment(t, { patientId: other.id, doctorId: t.dermatology.id, startTime });
    let replies: Awaited<ReturnType<Chat['say']>> = [];
    const statements = await statementsDuring(t.org.id, async () => { replies = await chat.say('yes'); });
    assert.deepEqual(keys(replies), ['booking_conflict']);
    const offered = ((await chat.conversation()).dialogue_state as { data: { offered: { startTime: string }[] } }).data.offered;
    assert.ok(offered.length > 0, 'fresh times offered');
    assert.ok(!offered.some((o) => new Date(o.startTime).getTime() === startTime.getTime()), 'the taken time is not offered again');
    assertNoTransaction(statements);
    assert.equal((await Appointment.query(svc.deps.db.knex).where({ patient_id: ana.id })).length, 0);
  });

  it('a booking refused inside the turn\'s transaction (hours changed since the offer) still saves the turn: reply, state, nothing booked', async () => {
    const { t, ana, chat } = await atConfirmation();
    await svc.deps.db.knex('doctors').where({ id: t.dermatology.id }).update({ working_hours: JSON.stringify({ monday: ['08:00-09:00'] }) });
    const version = (await chat.conversation()).state_version;
    assert.deepEqual(keys(await chat.say('yes')), ['booking_failed', 'ask_day']);
    assert.equal((await chat.conversation()).state_version, version + 1);
    assert.equal((await Appointment.query(svc.deps.db.knex).where({ patient_id: ana.id })).length, 0);
  });

  it('a booking whose conversation moved on before its first write books once, under the lock', async () => {
    const { t, ana, chat, scope } = await atConfirmation();
    during.set('yes', async () => {
      const c = await chat.conversation();
      await updateDialogueState(svc.deps.db.knex, scope, c.id, c.state_version, c.dialogue_state as Record<string, unknown>);
    });
    assert.deepEqual(keys(await chat.say('yes')), ['booked']);
    const booked = await Appointment.query(svc.deps.db.knex).where({ patient_id: ana.id });
    assert.equal(booked.length, 1);
    assert.equal(booked[0]!.doctor_id, t.dermatology.id);
  });

  it('a conversation staff took over while the turn ran gets no bot reply', async () => {
    const { chat, scope } = await patientChat();
    assert.deepEqual(keys(await chat.say('hello')), ['welcome']);
    during.set('1', async () => {
      await svc.deps.db.knex.transaction((trx) => handoffConversation(trx, scope, chat.conversationId!, { reason: 'staff' }));
    });
    assert.deepEqual(keys(await chat.say('1')), []);
    const c = await chat.conversation();
    assert.equal(c.status, 'handoff');
    assert.equal(c.state_version, 2, 'the welcome turn, then the handoff; the silent turn saved nothing');
  });

  it('handoff, close and delete move state_version on, so a turn that read the conversation before notices', async () => {
    const { chat, scope } = await patientChat();
    await chat.say('hello');
    const knex = svc.deps.db.knex;
    const version = async () => (await Conversation.query(knex).findById(chat.conversationId!))!.state_version;
    const v0 = await version();
    const handedOff = await knex.transaction((trx) => handoffConversation(trx, scope, chat.conversationId!, {}));
    assert.equal(handedOff.state_version, v0 + 1, 'the handoff returns the moved version');
    await closeConversation(knex, scope, chat.conversationId!);
    assert.equal(await version(), v0 + 2);
    await deleteConversation(knex, scope, chat.conversationId!);
    assert.equal(await version(), v0 + 3);
  });
});
