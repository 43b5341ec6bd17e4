/**
 * The chat benchmark's floor: Koa + ws + pg and nothing else. Each message
 * frame writes as many rows as one CareChat turn does, one row per statement,
 * in as many transactions (ECHO_WRITES, ECHO_TXNS, measured by bench/chat.ts),
 * then acks and echoes a message frame. No understanding, no dialogue, no
 * reads, no validation, no outbox.
 */
import Koa from 'koa';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

/** Writes and transactions per turn on average: fractions are spread over the turns (4.4 is 4 in three turns of five, 5 in two). */
const WRITES = Math.max(1, Number(process.env.ECHO_WRITES ?? 4));
const TXNS = Math.max(1, Number(process.env.ECHO_TXNS ?? 2));

/** n per call on average, as whole numbers: the carried fraction adds one whenever it reaches a whole. */
function spread(n: number): () => number {
  let carried = 0;
  return () => {
    carried += n - Math.floor(n);
    const extra = carried >= 1 - 1e-9 ? 1 : 0;
    carried -= extra;
    return Math.floor(n) + extra;
  };
}
const nextWrites = spread(WRITES);
const nextTxns = spread(TXNS);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

await pool.query(`CREATE TABLE IF NOT EXISTS echo_conversations (id text PRIMARY KEY, message_count int NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())`);
await pool.query(`CREATE TABLE IF NOT EXISTS echo_messages (id bigserial PRIMARY KEY, conversation_id text NOT NULL, direction text NOT NULL, content text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);

/** The turn's writes over its transactions, alternating an insert of a message and an update (of the conversation, then of the last message's status). */
async function turn(conversationId: string, text: string): Promise<void> {
  const writes = nextWrites();
  const txns = Math.min(writes, nextTxns());
  let left = writes;
  for (let t = 0; t < txns; t++) {
    const here = Math.ceil(left / (txns - t));
    left -= here;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      let lastId: string | null = null;
      for (let w = 0; w < here; w++) {
        if (w % 2 === 0) {
          const r = await client.query<{ id: string }>('INSERT INTO echo_messages (conversation_id, direction, content, status) VALUES ($1, $2, $3, $4) RETURNING id',
            [conversationId, t === 0 ? 'inbound' : 'outbound', text, t === 0 ? 'received' : 'queued']);
          lastId = r.rows[0]!.id;
        } else if (w === 1) {
          await client.query('UPDATE echo_conversations SET message_count = message_count + 1, updated_at = now() WHERE id = $1', [conversationId]);
        } else {
          await client.query("UPDATE echo_messages SET status = 'sent' WHERE id = $1", [lastId]);
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

const app = new Koa();
app.use((ctx) => { ctx.body = 'echo'; });
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`));
const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (req, socket, head) => {
  if (!req.url?.startsWith('/chat')) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => { void accept(ws); });
});

async function accept(ws: WebSocket): Promise<void> {
  const conversationId = randomUUID();
  await pool.query('INSERT INTO echo_conversations (id) VALUES ($1)', [conversationId]);
  ws.send(JSON.stringify({ type: 'session', session_token: conversationId, conversation_id: conversationId }));
  // One turn at a time per socket, in order, as CareChat does.
  let queue = Promise.resolve();
  ws.on('message', (data: Buffer) => {
    queue = queue.then(async () => {
      const frame = JSON.parse(data.toString('utf8')) as { id: string; text: string };
      await turn(conversationId, frame.text);
      ws.send(JSON.stringify({ type: 'ack', id: frame.id, message_id: frame.id }));
      ws.send(JSON.stringify({ type: 'message', id: frame.id, sender: 'assistant', text: frame.text, options: [], created_at: new Date().toISOString() }));
    }).catch(() => ws.close(1011));
  });
}

process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  server.close();
  pool.end().then(() => process.exit(0));
});
