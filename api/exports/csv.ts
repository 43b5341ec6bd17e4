/**
 * Conversation exports as CSV: one row per message, the same columns for one
 * conversation and for the organization-wide export. Quoting is csv-stringify's
 * (RFC 4180, CRLF records); a cell starting with = + - @ tab or CR gets a
 * leading apostrophe, so a spreadsheet never runs a patient's text as a formula.
 */
import { stringify } from 'csv-stringify/sync';
import type { Conversation } from '../../models/conversations.js';
import type { Message } from '../../models/messages.js';
import { visibleStatus } from '../../models/outbox.js';
import { iso } from '../presenters/patients.js';
import { transcriptionOf } from '../../models/mediaFiles.js';

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

export const CSV_COLUMNS = [
  'conversation_id', 'message_id', 'timestamp', 'patient_id', 'patient_name', 'channel', 'language',
  'direction', 'sender', 'content_type', 'status', 'content', 'transcription',
] as const;

type CsvRow = Record<(typeof CSV_COLUMNS)[number], string>;

/** One message as a CSV row (whitelisted fields only, times in UTC). */
export function messageRow(c: Conversation, m: Message): CsvRow {
  return {
    conversation_id: c.id,
    message_id: m.id,
    timestamp: iso(m.created_at)!,
    patient_id: c.patient_id ?? '',
    patient_name: c.patient_name ?? '',
    channel: m.channel,
    language: c.language ?? '',
    direction: m.direction,
    sender: m.sender,
    content_type: m.content_type,
    status: visibleStatus(m),
    content: m.content,
    // A voice message's words (its content is the audio's URL).
    transcription: transcriptionOf(m) ?? '',
  };
}

/**
 * Rows as CSV text; `header` adds the header row, preceded by a UTF-8 byte
 * order mark so spreadsheet programs (Excel) read accents and Devanagari right.
 */
export function csvText(rows: CsvRow[], opts: { header: boolean }): string {
  const text = stringify(rows, {
    columns: [...CSV_COLUMNS], header: opts.header, record_delimiter: 'windows', escape_formulas: true,
  });
  return opts.header ? `\uFEFF${text}` : text;
}
