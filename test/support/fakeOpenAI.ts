/**
 * A fake OpenAI-compatible server on 127.0.0.1: POST /v1/chat/completions
 * answers with a programmed tool call, an error, garbage, or nothing in time.
 * The real `openai` client talks to it over HTTP.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeOpenAIMode =
  | { kind: 'tool'; args: Record<string, unknown> | ((userText: string) => Record<string, unknown>) }
  | { kind: 'error'; status: number }
  | { kind: 'garbage' }
  | { kind: 'hang'; ms: number };

export interface FakeOpenAI {
  baseURL: string;
  requests: Array<{ path: string; body: { model: string; messages: Array<{ role: string; content: string }>; tools?: unknown[]; tool_choice?: unknown } }>;
  setMode(mode: FakeOpenAIMode): void;
  close(): Promise<void>;
}

export async function startFakeOpenAI(initial: FakeOpenAIMode = { kind: 'tool', args: { intent: 'unknown' } }): Promise<FakeOpenAI> {
  let mode = initial;
  const requests: FakeOpenAI['requests'] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => { raw += c.toString(); });
    req.on('end', () => {
      const body = JSON.parse(raw || '{}');
      requests.push({ path: req.url ?? '', body });
      if (req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const m = mode;
      if (m.kind === 'hang') {
        setTimeout(() => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}'), m.ms).unref();
        return;
      }
      if (m.kind === 'error') {
        res.writeHead(m.status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'fake failure', type: 'server_error' } }));
        return;
      }
      const userText = [...(body.messages ?? [])].reverse().find((x: { role: string }) => x.role === 'user')?.content ?? '';
      const args = m.kind === 'garbage' ? '{not json' : JSON.stringify(typeof m.args === 'function' ? m.args(userText) : m.args);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({
        id: 'chatcmpl-fake', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model,
        choices: [{
          index: 0, finish_reason: 'tool_calls',
          message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'classify_message', arguments: args } }] },
        }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    setMode: (m) => { mode = m; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
