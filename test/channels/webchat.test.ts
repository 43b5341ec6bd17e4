import assert from 'node:assert/strict';
import { newId } from '../../lib/ids.js';
import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';
import { createOrganization } from '../../models/organizations.js';
import { closeConversation, queueStaffReply } from '../../models/conversations.js';
import { Message, queueOutboundMessage } from '../../models/messages.js';
import { renderForChannel } from '../../channels/dispatchText.js';
import type { RunningService } from '../../main.js';
import {
  STAND_IN_OPTIONS, VisitorClient, deliver, dispatchWebchat, startWebchatService, stopWebchatServices, toOutbound, type ServerFrame,
} from '../support/webchat.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const isMessage = (f: ServerFrame) => f.type === 'message';
const newOrg = async (svc: RunningService) => createOrganization(svc.deps.db.knex, { name: `Webchat clinic ${Math.random()}`, timeZone: 'UTC' });

describe('web chat channel (WebSocket /chat)', () => {
  let svc: RunningService;
  const clients: VisitorClient[] = [];
  const open = async (query: Record<string, string | undefined>) => {
    const opened = await VisitorClient.open(svc.url, query);
    clients.push(opened.client);
    return opened;
  };

  /** A visitor of a new clinic, connected, and an assistant reply queued (not sent) in its conversation. */
  const visitorWithQueuedReply = async (text: string, options: { value: string; label: string }[] | null = null) => {
    const org = await newOrg(svc);
    const { client, session } = await open({ org: org.id });
    const knex = svc.deps.db.knex;
    const conv = await knex('conversations').where({ id: session.conversation_id }).first();
    const row = await queueOutboundMessage(knex, { organizationId: org.id }, { conversationId: conv.id, channel: 'webchat', to: conv.channel_address, text, options, sender: 'assistant' });
    return { org, client, knex, conv, row };
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

  it('sends a session frame first, and stores only the hash of the session token', async () => {
    const org = await newOrg(svc);
    const { session } = await open({ org: org.id });
    assert.match(session.session_token, /^[A-Za-z0-9_-]{40,}$/);
    assert.match(session.conversation_id, /^conv_/);
    const knex = svc.deps.db.knex;
    const row = await knex('webchat_sessions').where({ token_hash: sha256(session.session_token) }).first();
    assert.ok(row, 'session row stored by token hash');
    assert.equal(row.organization_id, org.id);
    assert.equal(row.conversation_id, session.conversation_id);
    const stored = JSON.stringify(await knex('webchat_sessions').where({ organization_id: org.id }));
    assert.ok(!stored.includes(session.session_token), 'the clear token is never stored');
    const conv = await knex('conversations').where({ id: session.conversation_id }).first();
    assert.equal(conv.channel, 'webchat');
    assert.equal(conv.channel_address, row.id);
    assert.equal(conv.organization_id, org.id);
    assert.equal(conv.status, 'bot');
    assert.equal(conv.patient_id, null);
    const events = await knex('events').where({ organization_id: org.id, subject_id: conv.id });
    assert.deepEqual(events.map((e) => [e.event, e.data]), [['conversation.created', { conversation_id: conv.id, patient_id: null, channel: 'webchat' }]]);
  });

  it('acknowledges a message with the stored message id, then shows typing and the reply with options', async () => {
    const org = await newOrg(svc);
    const { client, session } = await open({ org: org.id });
    client.sendMessage('c-1', 'Hello there');
    const ack = await client.next((f) => f.type === 'ack');
    assert.equal(ack.id, 'c-1');
    assert.match(String(ack.message_id), /^msg_/);
    await client.next((f) => f.type === 'typing');
    const reply = await client.next(isMessage);
    assert.match(String(reply.id), /^msg_/);
    assert.equal(reply.sender, 'assistant');
    assert.equal(reply.text, 'Hello! I am the CareChat assistant. How can I help?');
    assert.deepEqual(reply.options, STAND_IN_OPTIONS);
    assert.ok(!Number.isNaN(Date.parse(String(reply.created_at))));

    const inbound = (await Message.query(svc.deps.db.knex).where({ id: ack.message_id }).first())!;
    assert.equal(inbound.direction, 'inbound');
    assert.equal(inbound.conversation_id, session.conversation_id);
    assert.equal(inbound.client_message_id, 'c-1');
    assert.equal(inbound.content, 'Hello there');
    const outbound = await svc.deps.db.knex('messages').where({ id: reply.id }).first();
    // Recorded as sent: 'delivered' when this instance's dispatcher pushed it to the socket, 'sent' when
    // another test service's dispatcher claimed it and reached this socket through NOTIFY.
    await waitFor(async () => ['delivered', 'sent'].includes((await svc.deps.db.knex('messages').where({ id: reply.id }).first()).status));
    assert.equal(outbound.conversation_id, session.conversation_id);
    // A send to a conversation with a socket on this instance reports 'delivered' at once.
    const direct = await svc.webchat.send({
      id: newId('message'), organizationId: org.id, channel: 'webchat', to: outbound.to_address, text: 'Direct', options: null,
      conversationId: session.conversation_id, sender: 'assistant', createdAt: new Date(),
    });
    assert.equal(direct.status, 'delivered');
    assert.equal((await client.next(isMessage)).text, 'Direct');
  });

  it('acknowledges a resent client id again with the same message_id and stores it once', async () => {
    const org = await newOrg(svc);
    const { client, session } = await open({ org: org.id });
    client.sendMessage('same-id', 'I need an appointment');
    const first = await client.next((f) => f.type === 'ack');
    await client.next(isMessage);
    client.sendMessage('same-id', 'I need an appointment');
    const second = await client.next((f) => f.type === 'ack');
    assert.equal(second.id, 'same-id');
    assert.equal(second.message_id, first.message_id);
    const rows = await svc.deps.db.knex('messages').where({ conversation_id: session.conversation_id, direction: 'inbound' });
    assert.equal(rows.length, 1);
    // Only one reply: the duplicate did not run the bot again.
    await sleep(300);
    assert.equal(client.messages().length, 1);
    assert.equal((await svc.deps.db.knex('messages').where({ conversation_id: session.conversation_id, direction: 'outbound' })).length, 1);
  });

  it('replays on reconnect with session and after= every reply missed while away, nothing lost and nothing doubled', async () => {
    const org = await newOrg(svc);
    const knex = svc.deps.db.knex;
    const first = await open({ org: org.id });
    first.client.sendMessage('m1', 'hi');
    const seen = await first.client.next(isMessage);
    await first.client.close();
    await waitFor(async () => svc.webchat.connectionCount === 0);

    // Two replies sent while the visitor is away: no socket took them.
    const scope = { organizationId: org.id };
    const conv = await knex('conversations').where({ id: first.session.conversation_id }).first();
    const missed = [];
    for (const text of ['Your appointment is confirmed.', 'See you on Monday.']) {
      const row = await queueOutboundMessage(knex, scope, { conversationId: conv.id, channel: 'webchat', to: conv.channel_address, text, sender: 'assistant' });
      const result = await svc.webchat.send(toOutbound(row));
      assert.deepEqual(result, { providerMessageId: null, status: 'sent' });
      await knex('messages').where({ id: row.id }).update({ status: 'sent' });
      missed.push(row.id);
    }

    const again = await open({ org: org.id, session: first.session.session_token, after: String(seen.id) });
    assert.equal(again.session.conversation_id, first.session.conversation_id);
    assert.equal(again.session.session_token, first.session.session_token);
    const replayed = [await again.client.next(isMessage), await again.client.next(isMessage)];
    assert.deepEqual(replayed.map((f) => f.id), missed);
    assert.deepEqual(replayed.map((f) => f.text), ['Your appointment is confirmed.', 'See you on Monday.']);

    // The conversation goes on live; nothing replayed shows twice.
    again.client.sendMessage('m2', '1');
    const live = await again.client.next(isMessage);
    assert.equal(live.text, 'You chose: Book an appointment. Anything else?');
    await sleep(200);
    const ids = again.client.messages().map((f) => f.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, 3);
  });

  it('opens a new conversation for the same session when its conversation was closed', async () => {
    const org = await newOrg(svc);
    const first = await open({ org: org.id });
    await first.client.close();
    await closeConversation(svc.deps.db.knex, { organizationId: org.id }, first.session.conversation_id);
    const again = await open({ org: org.id, session: first.session.session_token });
    assert.notEqual(again.session.conversation_id, first.session.conversation_id);
    assert.equal(again.session.session_token, first.session.session_token);
    const sessions = await svc.deps.db.knex('webchat_sessions').where({ organization_id: org.id });
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0].conversation_id, again.session.conversation_id);
    const conv = await svc.deps.db.knex('conversations').where({ id: again.session.conversation_id }).first();
    assert.equal(conv.channel_address, sessions[0].id);
  });

  it('starts a new session when the token is unknown or belongs to another organization', async () => {
    const orgA = await newOrg(svc);
    const orgB = await newOrg(svc);
    const a = await open({ org: orgA.id });
    const b = await open({ org: orgB.id, session: a.session.session_token });
    assert.notEqual(b.session.session_token, a.session.session_token);
    assert.notEqual(b.session.conversation_id, a.session.conversation_id);
    const c = await open({ org: orgA.id, session: 'not-a-real-token' });
    assert.notEqual(c.session.session_token, 'not-a-real-token');
  });

  it('closes the socket with 4404 for an unknown organization', async () => {
    const client = await VisitorClient.connect(svc.url, { org: 'org_01NOSUCHORGANIZATION0000000' });
    clients.push(client);
    const closed = await client.waitClosed();
    assert.equal(closed.code, 4404);
    assert.equal(client.frames.length, 0);
    const resuming = await VisitorClient.connect(svc.url, { org: 'org_01NOSUCHORGANIZATION0000000', session: 'some-token' });
    clients.push(resuming);
    assert.equal((await resuming.waitClosed()).code, 4404);
    const stored = await svc.deps.db.knex('conversations').where({ organization_id: 'org_01NOSUCHORGANIZATION0000000' }).count({ n: '*' });
    assert.equal(Number(stored[0]!.n), 0, 'nothing stored for an unknown organization');
  });

  it('answers an upgrade on another path with 404', async () => {
    const ws = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/not-chat`);
    ws.on('error', () => undefined);
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('upgraded on an unknown path')));
    });
    assert.equal(status, 404);
  });

  it('GET / serves the demo page with the widget tag for the first organization, or the one asked for', async () => {
    const first = await svc.deps.db.knex('organizations').orderBy('created_at').orderBy('id').first('id');
    const page = await (await fetch(`${svc.url}/`)).text();
    assert.ok(page.includes(`<script src="/widget/carechat.js" data-org="${first.id}"`), `widget tag for the first organization ${first.id}: ${/data-org="[^"]*"/.exec(page)?.[0]}`);
    assert.ok(page.includes('href="/docs"'));
    const org = await newOrg(svc);
    assert.ok((await (await fetch(`${svc.url}/?org=${org.id}`)).text()).includes(`data-org="${org.id}"`));
    const widget = await fetch(`${svc.url}/widget/carechat.js`);
    assert.equal(widget.status, 200);
    assert.match(widget.headers.get('content-type') ?? '', /javascript/);
  });

  it('answers bad frames with an error frame and keeps the socket open', async () => {
    const org = await newOrg(svc);
    const { client } = await open({ org: org.id });
    client.sendRaw('not json');
    assert.equal((await client.next((f) => f.type === 'error')).code, 'invalid_json');
    client.sendRaw(JSON.stringify({ type: 'shout', id: 'x1', text: 'hi' }));
    const unknown = await client.next((f) => f.type === 'error');
    assert.equal(unknown.code, 'unknown_type');
    assert.equal(unknown.id, 'x1');
    client.sendMessage('x2', 'a'.repeat(2001));
    assert.equal((await client.next((f) => f.type === 'error')).code, 'text_too_long');
    client.sendRaw(JSON.stringify({ type: 'message', text: 'no id' }));
    assert.equal((await client.next((f) => f.type === 'error')).code, 'invalid_frame');
    client.sendMessage('x3', '   ');
    assert.equal((await client.next((f) => f.type === 'error')).code, 'empty_text');
    client.sendRaw(JSON.stringify([1, 2]));
    assert.equal((await client.next((f) => f.type === 'error')).code, 'invalid_frame');
    // Still open and working.
    client.sendMessage('x4', 'hello');
    assert.equal((await client.next((f) => f.type === 'ack')).id, 'x4');
    client.sendRaw(JSON.stringify({ type: 'ping' }));
    await client.next((f) => f.type === 'pong');
    assert.equal(client.closed, null);
  });

  it('rate-limits a visitor to 20 messages per 10 seconds with an error frame', async () => {
    const org = await newOrg(svc);
    const { client } = await open({ org: org.id });
    for (let i = 1; i <= 21; i++) client.sendMessage(`r${i}`, `message ${i}`);
    const limited = await client.next((f) => f.type === 'error' && f.code === 'rate_limited', 10_000);
    assert.equal(limited.id, 'r21');
    const acks = () => client.frames.filter((f) => f.type === 'ack').length;
    await waitFor(async () => acks() === 20, 15_000);
    assert.equal(client.closed, null);
  });

  it('pushes a staff reply at once through pushStoredMessage', async () => {
    const org = await newOrg(svc);
    const { client, session } = await open({ org: org.id });
    const knex = svc.deps.db.knex;
    const { message } = await knex.transaction((trx) => queueStaffReply(trx, { organizationId: org.id }, session.conversation_id, { text: 'Hi, this is Marta from reception.', userId: null }));
    assert.equal(await svc.webchat.pushStoredMessage(session.conversation_id, message.id), true);
    const frame = await client.next(isMessage);
    assert.deepEqual(
      { id: frame.id, sender: frame.sender, text: frame.text, options: frame.options },
      { id: message.id, sender: 'staff', text: 'Hi, this is Marta from reception.', options: [] },
    );
    // The dispatcher's later send of the same row does not show it twice.
    await deliver(knex, svc.webchat, message);
    await sleep(200);
    assert.equal(client.messages().length, 1);
  });

  it('shows each part of a long message the dispatcher split under one id, each once', async () => {
    const { org, client, knex, row } = await visitorWithQueuedReply(`${'a'.repeat(3990)} ${'b'.repeat(100)}`);
    // The real dispatcher splits it at the channel's 4000 characters: this service's, or another test
    // service's that claimed the row first and reached this socket through NOTIFY (then it records 'sent').
    const claimedHere = await dispatchWebchat(svc.deps.db, svc.webchat, org.id);
    const parts = [await client.next(isMessage), await client.next(isMessage)];
    assert.deepEqual(parts.map((p) => p.id), [row.id, row.id]);
    assert.ok(String(parts[0].text).startsWith('aaa') && String(parts[1].text).endsWith('bbb'));
    let status = '';
    for (let i = 0; i < 40 && !['sent', 'delivered'].includes(status); i++, await sleep(50)) status = (await knex('messages').where({ id: row.id }).first()).status;
    assert.equal(status, claimedHere === 1 ? 'delivered' : 'sent');
    await svc.webchat.send({ ...toOutbound(row), text: String(parts[0].text) });
    await sleep(150);
    assert.equal(client.messages().length, 2);
  });

  it('reaches a visitor connected to another instance through NOTIFY', async () => {
    const other = await startWebchatService();
    const { org, client, knex, conv, row } = await visitorWithQueuedReply('Sent from instance B', [{ value: '1', label: 'OK' }]);
    const result = await other.webchat.send(toOutbound(row));
    assert.equal(result.status, 'sent');
    const frame = await client.next(isMessage);
    assert.equal(frame.id, row.id);
    assert.deepEqual(frame.options, [{ value: '1', label: 'OK' }]);

    const { message } = await knex.transaction((trx) => queueStaffReply(trx, { organizationId: org.id }, conv.id, { text: 'Staff via B', userId: null }));
    assert.equal(await other.webchat.pushStoredMessage(conv.id, message.id), false);
    assert.equal((await client.next(isMessage)).text, 'Staff via B');
  });

  it('a long message another instance sends in parts reaches the visitor as the same parts, each once', async () => {
    const other = await startWebchatService();
    const text = `${'a'.repeat(3990)} ${'b'.repeat(100)}`;
    const { client, row } = await visitorWithQueuedReply(text);
    const parts = renderForChannel(text, null, other.webchat.capabilities);
    assert.equal(parts.length, 2);
    // Instance B holds no socket of this visitor: each part goes through NOTIFY and this instance splits the stored text the same way.
    for (const [i, part] of parts.entries()) assert.equal((await other.webchat.send({ ...toOutbound(row), text: part.text, part: i })).status, 'sent');
    const frames = [await client.next(isMessage), await client.next(isMessage)];
    assert.deepEqual(frames.map((f) => f.id), [row.id, row.id]);
    assert.deepEqual(frames.map((f) => f.text), parts.map((p) => p.text));
    await other.webchat.send({ ...toOutbound(row), text: parts[1]!.text, part: 1 });
    await sleep(150);
    assert.equal(client.messages().length, 2, 'a part sent again is shown once');
  });

  it('closes visitor sockets with 1001 on graceful shutdown', async () => {
    const extra = await startWebchatService();
    const org = await newOrg(extra);
    const { client } = await VisitorClient.open(extra.url, { org: org.id });
    await extra.stop();
    assert.equal((await client.waitClosed()).code, 1001);
    assert.equal(extra.webchat.health().status, 'down');
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}
