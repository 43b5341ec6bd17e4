/**
 * Voice messages on the web chat: the message frame carries `audio` (url,
 * format, duration) live, through another instance's NOTIFY, through
 * pushStoredMessage and on the replay after a reconnect; a text frame has none.
 */
import assert from 'node:assert/strict';
import { createOrganization } from '../../models/organizations.js';
import { queueOutboundMessage, type Message, type QueueOutboundInput } from '../../models/messages.js';
import { outboundMediaOf, type StoredMedia } from '../../channels/outboundMedia.js';
import type { OutboundMessage } from '../../channels/types.js';
import type { RunningService } from '../../main.js';
import { VisitorClient, startWebchatService, stopWebchatServices, toOutbound, type ServerFrame } from '../support/webchat.js';

const isMessage = (f: ServerFrame) => f.type === 'message';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** metadata.media as POST /messages/voice stores it (the URL a path: no PUBLIC_URL). */
function storedMedia(overrides: Partial<StoredMedia> = {}): StoredMedia {
  return {
    id: 'med_01TESTVOICE', url: '/media/med_01TESTVOICE/tok_abc.mp3', format: 'mp3', mime_type: 'audio/mpeg',
    duration_seconds: 15, size_bytes: 24_000, file_name: 'voice-message.mp3', ...overrides,
  };
}

/** What the dispatcher hands the adapter for a stored voice row: its media, and no text (the content is the URL). */
function voiceOutbound(row: Message, caption = ''): OutboundMessage {
  const media = outboundMediaOf(row.metadata);
  assert.ok(media, 'the stored row carries its media');
  return { ...toOutbound(row), text: caption, media };
}

describe('web chat voice messages (WebSocket /chat)', () => {
  let svc: RunningService;
  const clients: VisitorClient[] = [];
  const open = async (query: Record<string, string | undefined>) => {
    const opened = await VisitorClient.open(svc.url, query);
    clients.push(opened.client);
    return opened;
  };

  /** A connected visitor of a new clinic, and a way to queue outbound rows (voice or text) in its conversation. */
  const visitor = async () => {
    const org = await createOrganization(svc.deps.db.knex, { name: `Voice clinic ${Math.random()}`, timeZone: 'UTC' });
    const opened = await open({ org: org.id });
    const knex = svc.deps.db.knex;
    const conv = await knex('conversations').where({ id: opened.session.conversation_id }).first();
    const base = { conversationId: conv.id as string, channel: 'webchat', to: conv.channel_address as string };
    // Stored as sent at once: the service's own dispatcher must not send them behind the test's back.
    const store = (input: QueueOutboundInput) => knex.transaction(async (trx) => {
      const row = await queueOutboundMessage(trx, { organizationId: org.id }, input);
      await trx('messages').where({ id: row.id }).update({ status: 'sent' });
      return row;
    });
    const queueVoice = (media = storedMedia(), sender: 'staff' | 'assistant' = 'staff') =>
      store({ ...base, contentType: 'voice', text: media.url, sender, metadata: { media } });
    const queueText = (text: string) => store({ ...base, text, sender: 'assistant' });
    return { org, knex, ...opened, queueVoice, queueText };
  };

  before(async () => {
    svc = await startWebchatService();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });
  after(async () => {
    await stopWebchatServices();
  });

  it('declares that the web chat carries media', () => {
    assert.equal(svc.webchat.capabilities.media, true);
  });

  it('pushes a voice message live with audio (url, format, duration) and an empty text', async () => {
    const { client, queueVoice } = await visitor();
    const row = await queueVoice();
    assert.equal((await svc.webchat.send(voiceOutbound(row))).status, 'delivered');
    const frame = await client.next(isMessage);
    assert.deepEqual(frame, {
      type: 'message', id: row.id, sender: 'staff', text: '', options: [], created_at: new Date(row.created_at).toISOString(),
      audio: { url: '/media/med_01TESTVOICE/tok_abc.mp3', format: 'mp3', duration_seconds: 15 },
    });
  });

  it('keeps a caption as the text, never the URL, and shows a voice message once whatever its copies carry', async () => {
    const { client, session, queueVoice } = await visitor();
    const row = await queueVoice(storedMedia({ url: 'https://clinic.example/media/med_2/tok.ogg', format: 'ogg', mime_type: 'audio/ogg', duration_seconds: null }));
    await svc.webchat.send(voiceOutbound(row, 'Please listen before Monday'));
    const frame = await client.next(isMessage);
    assert.equal(frame.text, 'Please listen before Monday');
    assert.deepEqual(frame.audio, { url: 'https://clinic.example/media/med_2/tok.ogg', format: 'ogg', duration_seconds: null });
    // The stored copy (content = the URL, no caption) and a send with the URL as text are the same message.
    assert.equal(await svc.webchat.pushStoredMessage(session.conversation_id, row.id), true);
    await svc.webchat.send({ ...voiceOutbound(row), text: row.content });
    await sleep(200);
    assert.equal(client.messages().length, 1, JSON.stringify(client.messages()));
  });

  it('pushes a stored voice message with audio through pushStoredMessage and through another instance\'s NOTIFY', async () => {
    const other = await startWebchatService();
    const { client, session, queueVoice } = await visitor();
    const staff = await queueVoice(storedMedia({ duration_seconds: 7 }));
    assert.equal(await svc.webchat.pushStoredMessage(session.conversation_id, staff.id), true);
    const pushed = await client.next(isMessage);
    assert.deepEqual({ id: pushed.id, text: pushed.text, audio: pushed.audio }, { id: staff.id, text: '', audio: { url: storedMedia().url, format: 'mp3', duration_seconds: 7 } });

    // Instance B holds no socket of this visitor: this instance loads the row the NOTIFY names (as part 0, as the dispatcher sends it).
    const viaB = await queueVoice(storedMedia({ url: '/media/med_b/tok.wav', format: 'wav', mime_type: 'audio/wav', duration_seconds: 3 }), 'assistant');
    assert.equal((await other.webchat.send({ ...voiceOutbound(viaB), part: 0 })).status, 'sent');
    const notified = await client.next(isMessage);
    assert.deepEqual({ id: notified.id, sender: notified.sender, text: notified.text, audio: notified.audio },
      { id: viaB.id, sender: 'assistant', text: '', audio: { url: '/media/med_b/tok.wav', format: 'wav', duration_seconds: 3 } });
  });

  it('replays a voice message missed while away with audio on reconnect with after=, and a text message without', async () => {
    const { org, client, session, queueVoice, queueText } = await visitor();
    const earlier = await queueText('Welcome to the clinic.');
    await svc.webchat.send(toOutbound(earlier));
    const live = await client.next(isMessage);
    assert.ok(!('audio' in live), 'a text message frame has no audio key');
    await client.close();
    await waitFor(async () => svc.webchat.connectionCount === 0);

    const voice = await queueVoice();
    assert.deepEqual(await svc.webchat.send(voiceOutbound(voice)), { providerMessageId: null, status: 'sent' });
    const text = await queueText('Call us if anything is unclear.');
    await svc.webchat.send(toOutbound(text));

    const again = await open({ org: org.id, session: session.session_token, after: earlier.id });
    const replayed = [await again.client.next(isMessage), await again.client.next(isMessage)];
    assert.deepEqual(replayed.map((f) => f.id), [voice.id, text.id]);
    assert.deepEqual({ text: replayed[0]!.text, audio: replayed[0]!.audio }, { text: '', audio: { url: storedMedia().url, format: 'mp3', duration_seconds: 15 } });
    assert.equal(replayed[1]!.text, 'Call us if anything is unclear.');
    assert.ok(!('audio' in replayed[1]!), 'a replayed text message has no audio key');
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
