/** Reading conversation exports in tests: CSV rows under the exact header, and a PDF's text (pdf.js). */
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { ApiResponse } from './client.js';

export type Row = Record<string, string>;
export const COLUMNS = ['conversation_id', 'message_id', 'timestamp', 'patient_id', 'patient_name', 'channel', 'language', 'direction', 'sender', 'content_type', 'status', 'content', 'transcription'];

export function csvRows(res: ApiResponse): Row[] {
  assert.ok(res.text.startsWith('\uFEFF'), 'a UTF-8 byte order mark for spreadsheets');
  const header = parse(res.text, { bom: true, to_line: 1 }) as string[][];
  assert.deepEqual(header[0], COLUMNS);
  return parse(res.text, { bom: true, columns: true }) as Row[];
}

export async function pdfText(bytes: Buffer): Promise<{ pages: number; text: string }> {
  assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
  const doc = await getDocument({ data: new Uint8Array(bytes), verbosity: 0 }).promise;
  let text = '';
  for (let p = 1; p <= doc.numPages; p++) {
    const content = await (await doc.getPage(p)).getTextContent();
    for (const item of content.items) if ('str' in item) text += item.str + (item.hasEOL ? '\n' : '');
  }
  return { pages: doc.numPages, text };
}
