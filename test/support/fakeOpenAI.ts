/**
 * A fake OpenAI-compatible server on 127.0.0.1: POST /v1/chat/completions
 * answers with a programmed tool call, an error, garbage, or nothing in time;
 * POST /v1/audio/transcriptions (multipart, as the client uploads the file)
 * with a programmed text (or a queue of them), an error or nothing in time;
 * POST /v1/audio/speech with a WAV of a tone whose length follows the text
 * (`msPerChar`), an error or nothing in time.
 * The real `openai` client talks to it over HTTP.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pcm16ToWav } from '../../lib/telephonyAudio.js';
import { tone } from './audioSignals.js';

export type FakeOpenAIMode =
  | { kind: 'tool'; args: Record<string, unknown> | ((userText: string) => Record<string, unknown>) }
  | { kind: 'error'; status: number }
  | { kind: 'garbage' }
  | { kind: 'hang'; ms: number };

export type FakeTranscriptionMode = { kind: 'text'; text: string } | { kind: 'error'; status: number } | { kind: 'hang'; ms: number };

export type FakeSpeechMode = { kind: 'tone'; hz: number; sampleRate: number; msPerChar: number } | { kind: 'error'; status: number } | { kind: 'hang'; ms: number };
export const DEFAULT_FAKE_SPEECH = { kind: 'tone', hz: 440, sampleRate: 24_000, msPerChar: 10 } satisfies FakeSpeechMode;
/** A speech request as received (the JSON body the client sends). */
export interface FakeSpeechRequest { model: string; voice: string; input: string; response_format?: string }

/** A transcription request as received: the form's text fields, and the file's name, type and bytes. */
export interface FakeTranscriptionRequest { fields: Record<string, string>; fileName: string | null; fileType: string | null; file: Buffer }

export interface FakeOpenAI {
  baseURL: string;
  transcriptions: FakeTranscriptionRequest[];
  /** The answer to every transcription; forgets what was queued. */
  setTranscription(mode: FakeTranscriptionMode): void;
  /** Answered in order before the mode set with setTranscription. */
  queueTranscriptions(...modes: Array<string | FakeTranscriptionMode>): void;
  speeches: FakeSpeechRequest[];
  setSpeech(mode: FakeSpeechMode): void;
  /** Speech for text matching `input` sends its first `afterBytes` bytes, and the rest only at releaseSpeech(); null: all at once. */
  holdSpeech(hold: { input: RegExp; afterBytes: number } | null): void;
  /** Speeches sent in part, waiting for releaseSpeech(). */
  readonly heldSpeeches: number;
  releaseSpeech(): void;
  requests: Array<{ path: string; body: { model: string; messages: Array<{ role: string; content: string }>; tools?: unknown[]; tool_choice?: unknown } }>;
  setMode(mode: FakeOpenAIMode): void;
  close(): Promise<void>;
}

export async function startFakeOpenAI(initial: FakeOpenAIMode = { kind: 'tool', args: { intent: 'unknown' } }): Promise<FakeOpenAI> {
  let mode = initial;
  let transcription: FakeTranscriptionMode = { kind: 'text', text: 'fake transcription' };
  const requests: FakeOpenAI['requests'] = [];
  const transcriptions: FakeTranscriptionRequest[] = [];
  const queued: FakeTranscriptionMode[] = [];
  let speech: FakeSpeechMode = DEFAULT_FAKE_SPEECH;
  let speechHold: { input: RegExp; afterBytes: number } | null = null;
  const held: Array<() => void> = [];
  const speeches: FakeSpeechRequest[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/v1/audio/speech') {
      let raw = '';
      req.on('data', (c: Buffer) => { raw += c.toString(); });
      req.on('end', () => {
        const body = JSON.parse(raw || '{}') as FakeSpeechRequest;
        speeches.push(body);
        const m = speech;
        if (m.kind === 'hang') {
          setTimeout(() => res.writeHead(500).end(), m.ms).unref();
        } else if (m.kind === 'error') {
          res.writeHead(m.status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'fake failure', type: 'server_error' } }));
        } else {
          const wav = pcm16ToWav(tone(m.hz, body.input.length * m.msPerChar, m.sampleRate, 0.5), m.sampleRate);
          res.writeHead(200, { 'Content-Type': 'audio/wav' });
          const hold = speechHold;
          if (hold && hold.input.test(body.input)) {
            // The start of the audio now, the rest when the test lets it go: as a service streams what it has spoken so far.
            res.write(wav.subarray(0, hold.afterBytes));
            held.push(() => res.end(wav.subarray(hold.afterBytes)));
          } else {
            res.end(wav);
          }
        }
      });
      return;
    }
    if (req.url === '/v1/audio/transcriptions') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        transcriptions.push(readMultipart(Buffer.concat(chunks), req.headers['content-type'] ?? ''));
        const t = queued.shift() ?? transcription;
        if (t.kind === 'hang') {
          setTimeout(() => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"text":"too late"}'), t.ms).unref();
        } else if (t.kind === 'error') {
          res.writeHead(t.status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'fake failure', type: 'server_error' } }));
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ text: t.text }));
        }
      });
      return;
    }
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
    transcriptions,
    setMode: (m) => { mode = m; },
    setTranscription: (m) => { transcription = m; queued.length = 0; },
    queueTranscriptions: (...modes) => { queued.push(...modes.map((m) => (typeof m === 'string' ? { kind: 'text' as const, text: m } : m))); },
    speeches,
    setSpeech: (m) => { speech = m; },
    holdSpeech: (h) => { speechHold = h; },
    get heldSpeeches() { return held.length; },
    releaseSpeech: () => { for (const finish of held.splice(0)) finish(); },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The parts of a multipart/form-data body, as the openai client sends a transcription (text fields and one file). */
function readMultipart(body: Buffer, contentType: string): FakeTranscriptionRequest {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const out: FakeTranscriptionRequest = { fields: {}, fileName: null, fileType: null, file: Buffer.alloc(0) };
  if (!boundary) return out;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next === -1) break;
    const part = body.subarray(at + delimiter.length + 2, next - 2);
    const headEnd = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, headEnd).toString('utf8');
    const content = part.subarray(headEnd + 4);
    const name = /name="([^"]*)"/.exec(head)?.[1] ?? '';
    const fileName = /filename="([^"]*)"/.exec(head)?.[1];
    if (fileName !== undefined) {
      out.fileName = fileName;
      out.fileType = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? null;
      out.file = Buffer.from(content);
    } else {
      out.fields[name] = content.toString('utf8');
    }
    at = next;
  }
  return out;
}
