/**
 * The organization-wide export as text chunks, from the events the model
 * reads batch by batch: CSV (one row per message), a JSON array of
 * conversations each with its messages, or NDJSON (one such conversation per
 * line). Only the current page of messages is held (NDJSON: the current
 * conversation), never the whole export.
 */
import { Readable } from 'node:stream';
import type { ConversationExportEvent } from '../../models/conversationExport.js';
import type { Conversation } from '../../models/conversations.js';
import type { Message } from '../../models/messages.js';
import { presentConversation } from '../presenters/conversations.js';
import { presentMessage } from '../presenters/messages.js';
import { csvText, messageRow } from './csv.js';

export type StreamFormat = 'csv' | 'json' | 'ndjson';

export interface ExportCounts { conversations: number; messages: number }

async function* csvChunks(events: AsyncIterable<ConversationExportEvent>, counts: ExportCounts): AsyncGenerator<string> {
  yield csvText([], { header: true });
  for await (const e of events) {
    if (e.type === 'start') counts.conversations++;
    if (e.type !== 'messages') continue;
    counts.messages += e.messages.length;
    yield csvText(e.messages.map((m) => messageRow(e.conversation, m)), { header: false });
  }
}

/** `{...conversation, "messages": [` — the detail's fields in the order of GET /conversations/:id. */
function detailHead(c: Conversation): string {
  return `${JSON.stringify(presentConversation(c)).slice(0, -1)},"messages":[`;
}

function detailTail(c: Conversation): string {
  return `],"metadata":${JSON.stringify({ intent: c.intent, sentiment: c.sentiment, escalated: c.escalated })}}`;
}

async function* jsonChunks(events: AsyncIterable<ConversationExportEvent>, counts: ExportCounts): AsyncGenerator<string> {
  yield '[';
  let firstMessage = true;
  for await (const e of events) {
    if (e.type === 'start') {
      yield `${counts.conversations === 0 ? '' : ','}${detailHead(e.conversation)}`;
      counts.conversations++;
      firstMessage = true;
    } else if (e.type === 'messages') {
      counts.messages += e.messages.length;
      yield `${firstMessage ? '' : ','}${e.messages.map((m) => JSON.stringify(presentMessage(m))).join(',')}`;
      firstMessage = false;
    } else {
      yield detailTail(e.conversation);
    }
  }
  yield ']\n';
}

async function* ndjsonChunks(events: AsyncIterable<ConversationExportEvent>, counts: ExportCounts): AsyncGenerator<string> {
  let messages: Message[] = [];
  for await (const e of events) {
    if (e.type === 'start') {
      counts.conversations++;
      messages = [];
    } else if (e.type === 'messages') {
      counts.messages += e.messages.length;
      messages.push(...e.messages);
    } else {
      yield `${detailHead(e.conversation)}${messages.map((m) => JSON.stringify(presentMessage(m))).join(',')}${detailTail(e.conversation)}\n`;
      messages = [];
    }
  }
}

const FORMATS = { csv: csvChunks, json: jsonChunks, ndjson: ndjsonChunks };

/**
 * A readable stream of the export that pulls the next batch only when the
 * client has taken the previous one (one chunk of read-ahead). Destroying it
 * (the client went away) stops the reads; `onDone` runs once either way.
 */
export function exportStream(events: AsyncIterable<ConversationExportEvent>, format: StreamFormat,
  onDone: (counts: ExportCounts, outcome: 'completed' | 'aborted' | 'failed') => void): Readable {
  const counts: ExportCounts = { conversations: 0, messages: 0 };
  async function* chunks(): AsyncGenerator<string> {
    let outcome: 'completed' | 'aborted' | 'failed' = 'aborted';
    try {
      yield* FORMATS[format](events, counts);
      outcome = 'completed';
    } catch (err) {
      outcome = 'failed';
      throw err;
    } finally {
      onDone(counts, outcome);
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: 1 });
}
