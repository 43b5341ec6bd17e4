import assert from 'node:assert/strict';
import type { RunningService } from '../../main.js';
import { buildPatient, buildWebchatSession } from '../support/factories.js';
import { buildClinic, Chat, keys, NOW, startEngineService } from './engineSupport.js';

// PostgreSQL cannot store U+0000 in text or jsonb. A message that carries one
// used to fail at its store, so the patient was never answered and a provider
// redelivered it for ever.
describe('conversation engine: a message that carries U+0000', function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => { svc = await startEngineService(); });

  it('stores an SMS without the NUL, answers it once, and knows its redelivery', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { name: 'Ana López', preferred_language: 'es' });
    const chat = new Chat(svc, t.org.id, 'sms', ana.phone!);
    const first = await chat.send('ho\u0000la', { providerMessageId: 'SM-\u0000nul-1', profileName: 'Ana\u0000' });
    const again = await chat.send('ho\u0000la', { providerMessageId: 'SM-\u0000nul-1' });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, first.messageId);
    const inbound = await chat.inbound();
    assert.deepEqual(inbound.map((m) => [m.content, m.provider_message_id]), [['hola', 'SM-nul-1']]);
    assert.equal((await chat.replies()).length, 1);
  });

  it('answers a web chat visitor whose text and client id carry NUL', async () => {
    const t = await buildClinic(svc);
    const session = await buildWebchatSession(t, NOW);
    const chat = new Chat(svc, t.org.id, 'webchat', session.sessionId);
    chat.conversationId = session.conversationId;
    const result = await chat.send('hel\u0000lo', { clientMessageId: 'c-\u00001' });
    assert.equal(result.duplicate, false);
    assert.deepEqual((await chat.inbound()).map((m) => [m.content, m.client_message_id]), [['hello', 'c-1']]);
    assert.deepEqual(keys(await chat.replies()), ['welcome']);
  });
});
