/**
 * A conversation as a readable PDF transcript (pdfkit): the clinic, the
 * patient, channel, language, status, start and end, then every message with
 * its local time (the organization's time zone) and who sent it, wrapped, with
 * page numbers. The font is Noto Sans Devanagari from its npm package: it
 * covers Latin (accents of Spanish and Catalan included) and Devanagari, and
 * fontkit shapes Devanagari (conjuncts, vowel signs) as it lays out the text.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import PDFDocument from 'pdfkit';
import { DateTime } from 'luxon';
import type { ConversationExport } from '../../models/conversationExport.js';
import type { Message } from '../../models/messages.js';
import { visibleStatus } from '../../models/outbox.js';
import { storedMediaOf, transcriptionOf } from '../../models/mediaFiles.js';

export const PDF_CONTENT_TYPE = 'application/pdf';

const require = createRequire(import.meta.url);
const FONT_PACKAGE = '@expo-google-fonts/noto-sans-devanagari';
let fonts: { regular: Buffer; bold: Buffer } | null = null;

/** The two font files, read once per process. */
function loadFonts(): { regular: Buffer; bold: Buffer } {
  fonts ??= {
    regular: readFileSync(require.resolve(`${FONT_PACKAGE}/400Regular/NotoSansDevanagari_400Regular.ttf`)),
    bold: readFileSync(require.resolve(`${FONT_PACKAGE}/700Bold/NotoSansDevanagari_700Bold.ttf`)),
  };
  return fonts;
}

const STATUS_LABELS: Record<string, string> = { bot: 'With the assistant', handoff: 'Handed off to staff', closed: 'Closed' };
const CHANNEL_LABELS: Record<string, string> = { webchat: 'Web chat', sms: 'SMS', whatsapp: 'WhatsApp', telegram: 'Telegram', voice: 'Voice' };

function languageLabel(code: string | null): string {
  if (!code) return 'Unknown';
  try {
    const name = new Intl.DisplayNames(['en'], { type: 'language' }).of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}

/** Text as pdfkit should get it: line breaks as \n, tabs as spaces, no other control characters. */
function printable(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').replace(/[\u0000-\u0008\u000B-\u001F\u007F]/g, ' '); // eslint-disable-line no-control-regex
}

function senderLabel(m: Message, patientName: string | null): string {
  switch (m.sender) {
    case 'patient': return patientName ? `${patientName} (patient)` : 'Patient';
    case 'assistant': return 'Assistant';
    case 'staff': return 'Staff';
    default: return 'System';
  }
}

export interface PdfOptions {
  /** When the export was made (printed in the header). */
  now: Date;
}

/** Renders the transcript; resolves with the whole file (one conversation, bounded like GET /conversations/:id). */
export async function renderConversationPdf(exp: ConversationExport, opts: PdfOptions): Promise<Buffer> {
  const { organization, conversation: c, messages } = exp;
  const zone = DateTime.now().setZone(organization.time_zone).isValid ? organization.time_zone : 'UTC';
  const local = (d: Date | null) => (d ? DateTime.fromJSDate(d, { zone }).toFormat('yyyy-MM-dd HH:mm') : '—');

  const doc = new PDFDocument({
    size: 'A4', margin: 50, bufferPages: true,
    info: { Title: `Conversation ${c.id}`, Author: organization.name, Creator: 'CareChat', CreationDate: opts.now },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve, reject) => { doc.on('end', resolve); doc.on('error', reject); });
  const { regular, bold } = loadFonts();
  doc.registerFont('body', regular);
  doc.registerFont('bold', bold);
  const width = doc.page.width - doc.page.margins.left - doc.page.margins.right;

  doc.font('bold').fontSize(16).fillColor('black').text('Conversation transcript');
  doc.font('body').fontSize(11).text(printable(organization.name));
  doc.moveDown(0.5);
  const fields: Array<[string, string]> = [
    ['Patient', c.patient_name ? `${printable(c.patient_name)}${c.patient_id ? ` (${c.patient_id})` : ''}` : c.patient_id ?? 'Not identified'],
    ['Conversation', c.id],
    ['Channel', CHANNEL_LABELS[c.channel] ?? c.channel],
    ['Language', languageLabel(c.language)],
    ['Status', `${STATUS_LABELS[c.status] ?? c.status}${c.escalated ? ' (escalated)' : ''}`],
    ['Started', local(c.created_at)],
    ['Ended', c.closed_at ? local(c.closed_at) : 'Open'],
    ['Messages', String(messages.length)],
    ['Times in', zone],
    ['Exported', local(opts.now)],
  ];
  doc.fontSize(10);
  for (const [label, value] of fields) {
    doc.font('bold').text(`${label}: `, { continued: true }).font('body').text(value);
  }
  doc.moveDown(0.5);
  rule(doc, width);

  for (const m of messages) {
    // Keep a message's heading with at least its first line.
    if (doc.y + 40 > doc.page.height - doc.page.margins.bottom) doc.addPage();
    const status = m.direction === 'outbound' ? ` · ${visibleStatus(m)}` : '';
    doc.font('bold').fontSize(9).fillColor('#555555').text(`${local(m.created_at)} · ${printable(senderLabel(m, c.patient_name ?? null))}${status}`, { width });
    doc.font('body').fontSize(11).fillColor('black').text(printable(pdfBody(m)) || ' ', { width });
    if (m.options?.length) {
      doc.fontSize(9).fillColor('#555555').text(`Options: ${m.options.map((o, i) => `${i + 1}. ${printable(o.label)}`).join('   ')}`, { width });
    }
    doc.fillColor('black').moveDown(0.6);
  }
  if (messages.length === 0) doc.font('body').fontSize(11).text('No messages.');

  const { start, count } = doc.bufferedPageRange();
  for (let i = start; i < start + count; i++) {
    doc.switchToPage(i);
    // Written in the bottom margin: lift the margin so pdfkit does not add a page for it.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font('body').fontSize(8).fillColor('#555555')
      .text(`${c.id} · Page ${i + 1} of ${count}`, doc.page.margins.left, doc.page.height - 35, { width, align: 'center', lineBreak: false });
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  await finished;
  return Buffer.concat(chunks);
}

function rule(doc: PDFKit.PDFDocument, width: number): void {
  const y = doc.y;
  doc.moveTo(doc.page.margins.left, y).lineTo(doc.page.margins.left + width, y).lineWidth(0.5).strokeColor('#999999').stroke();
  doc.moveDown(0.8);
}

/** What a message says in the transcript: a voice message sent by its length and words (its content is only the audio's URL), a voice note received by its words. */
function pdfBody(m: Message): string {
  if (m.content_type !== 'voice') return m.content;
  const media = storedMediaOf(m.metadata);
  // A patient's voice note: its content is the words heard.
  if (!media) return `[Voice note] ${m.content}`;
  const length = media.duration_seconds === null ? '' : ` (${Math.floor(media.duration_seconds / 60)}:${String(media.duration_seconds % 60).padStart(2, '0')})`;
  const words = transcriptionOf(m);
  return `[Voice message${length}]${words ? ` ${words}` : ''}`;
}
