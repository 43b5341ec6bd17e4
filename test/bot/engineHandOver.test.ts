import assert from 'node:assert/strict';
import type { RunningService } from '../../main.js';
import { ConversationEngine, type HandOver } from '../../bot/engine.js';
import { RulesUnderstander } from '../../bot/understanding/rules.js';
import { createLogger } from '../../lib/logger.js';
import { queueOutboundMessage } from '../../models/messages.js';
import type { ClaimedMessage } from '../../models/outbox.js';
import { buildPatient } from '../support/factories.js';
import { buildClinic, Chat, keys, startEngineService } from './engineSupport.js';

/**
 * A turn's replies stored claimed for this instance's dispatcher and handed to
 * it after the commit (EngineOptions.handOver), so that no claim stands
 * between the commit and the send; the usual queue and kick otherwise.
 */
describe('conversation engine: replies handed to the dispatcher from the commit', function () {
  this.timeout(30_000);
  let svc: RunningService;

  before(async () => {
    svc = await startEngineService();
  });

  /** An engine on the service's database whose dispatcher is a recorder: what it was asked, handed, and how often kicked. */
  function recordingEngine(lease: (channel: string, orgId: string) => Date | null) {
    const seen = { asked: [] as [string, string][], handed: [] as ClaimedMessage[][], kicks: 0 };
    const handOver: HandOver = {
      claimUntil: (channel, orgId) => {
        seen.asked.push([channel, orgId]);
        return lease(channel, orgId);
      },
      sendClaimed: (messages) => { seen.handed.push([...messages]); },
    };
    const rules = new RulesUnderstander();
    const engine = new ConversationEngine({
      db: svc.deps.db, logger: createLogger('silent'), clock: svc.deps.clock, understander: rules, rules, idleMinutes: 60, emergencyNumber: '112',
      handOver, onQueued: () => { seen.kicks++; },
    });
    return { engine, seen };
  }

  async function patientChat(engine: ConversationEngine) {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { name: 'Ana López', preferred_language: 'en' });
    return { t, ana, chat: new Chat(svc, t.org.id, 'whatsapp', ana.phone!, engine) };
  }

  const inAMinute = () => new Date(svc.deps.clock.now().getTime() + 60_000);
  const row = (id: string) => svc.deps.db.knex('messages').where({ id }).first();

  it('stores the replies under the dispatcher\'s lease and hands them over in the clear after the commit, without a kick', async () => {
    const lease = inAMinute();
    const { engine, seen } = recordingEngine(() => lease);
    const { t, ana, chat } = await patientChat(engine);
    const replies = await chat.say('I want to book an appointment');
    assert.deepEqual(keys(replies), ['ask_specialty']);
    assert.deepEqual(seen.asked, [['whatsapp', t.org.id]]);
    assert.equal(seen.kicks, 0, 'nothing left queued for a claim');
    assert.equal(seen.handed.length, 1);
    const [handed] = seen.handed[0]!;
    assert.equal(handed!.id, replies[0]!.id);
    assert.equal(handed!.content, replies[0]!.content, 'the text as the patient reads it');
    assert.deepEqual(handed!.options, replies[0]!.options);
    assert.equal(handed!.to_address, ana.phone);
    assert.equal(handed!.conversation_id, chat.conversationId);
    assert.equal(handed!.attempts, 1);
    assert.equal(handed!.patient_opted_out, false);
    const stored = await row(handed!.id);
    assert.equal(stored.status, 'queued');
    assert.equal(stored.attempts, 1);
    assert.equal(new Date(stored.claimed_until).getTime(), lease.getTime());
  });

  it('queues the replies for a claim and kicks when the recipient has an earlier message still due (per-recipient order)', async () => {
    const { engine, seen } = recordingEngine(inAMinute);
    const { t, ana, chat } = await patientChat(engine);
    const earlier = await queueOutboundMessage(svc.deps.db.knex, { organizationId: t.org.id }, {
      channel: 'whatsapp', to: ana.phone!, text: 'Your appointment is tomorrow at 10:00.', sender: 'system', now: new Date(svc.deps.clock.now().getTime() - 1000),
    });
    const replies = await chat.say('I want to book an appointment');
    assert.deepEqual(keys(replies), ['ask_specialty']);
    assert.equal(seen.handed.length, 0);
    assert.equal(seen.kicks, 1);
    const stored = await row(replies[0]!.id);
    assert.equal(stored.claimed_until, null);
    assert.equal(stored.attempts, 0);
    assert.equal((await row(earlier.id)).attempts, 0, 'the earlier message is left as it was');
  });

  it('queues the replies and kicks when the dispatcher does not send on the channel', async () => {
    const { engine, seen } = recordingEngine(() => null);
    const { chat } = await patientChat(engine);
    const replies = await chat.say('I want to book an appointment');
    assert.equal(replies.length, 1);
    assert.equal(seen.handed.length, 0);
    assert.equal(seen.kicks, 1);
    assert.equal((await row(replies[0]!.id)).claimed_until, null);
  });

  it('hands over the STOP confirmation marked transactional, with the patient already opted out', async () => {
    const { engine, seen } = recordingEngine(inAMinute);
    const { chat } = await patientChat(engine);
    const replies = await chat.say('STOP');
    assert.equal(replies.length, 1);
    const [handed] = seen.handed[0]!;
    assert.equal(handed!.id, replies[0]!.id);
    assert.equal(handed!.patient_opted_out, true, 'read after the opt-out in the same transaction');
    assert.equal(handed!.metadata.transactional, true);
  });
});
