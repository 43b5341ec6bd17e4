/**
 * A Telegram update (https://core.telegram.org/bots/api#update) read as the
 * inbound handler uses it. Telegram sends it, but its shape is still input:
 * the parts that identify a message (chat, message id, query id) must have
 * the Bot API's types or the update is ignored; a part we cannot read
 * beyond them (a name, a caption, a file) is left out and the message kept,
 * so the patient is still answered.
 */
import { z } from 'zod';

/** Left out when it does not have its type. */
const maybe = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);

const user = z.object({
  id: z.number().int(),
  first_name: maybe(z.string()),
  last_name: maybe(z.string()),
  language_code: maybe(z.string()),
});
const chat = z.object({ id: z.number().int(), type: z.string() });
const file = z.object({ file_id: z.string().min(1), mime_type: maybe(z.string()) });

const message = z.object({
  message_id: z.number().int(),
  chat,
  from: maybe(user),
  text: maybe(z.string()),
  caption: maybe(z.string()),
  contact: maybe(z.object({ phone_number: z.string(), user_id: maybe(z.number().int()) })),
  photo: maybe(z.array(file).min(1)),
  voice: maybe(file),
  audio: maybe(file),
  video: maybe(file),
  video_note: maybe(file),
  document: maybe(file),
  sticker: maybe(file),
  animation: maybe(file),
  location: maybe(z.object({}).loose()),
});
type TelegramMessage = z.infer<typeof message>;

const update = z.object({
  update_id: z.number().int(),
  message: maybe(message),
  callback_query: maybe(z.object({
    id: z.string().min(1),
    from: user,
    data: maybe(z.string()),
    message: maybe(z.object({ chat: maybe(chat) })),
  })),
});

/** What an update says, normalized; null for updates we ignore. */
export interface NormalizedUpdate {
  chatId: string;
  providerMessageId: string;
  text: string;
  profileName: string | null;
  media?: { url: string; contentType: string }[];
  kind: 'text' | 'start' | 'callback' | 'contact' | 'other';
  /** The sender's Telegram app language (from.language_code), when Telegram tells it. */
  languageCode: string | null;
}

export interface ReadUpdate {
  updateId: number;
  /** A button tap's query id: answered whatever the tap says (it stops the client's spinner). */
  callbackQueryId: string | null;
  /** Null when the update is ignored. */
  normalized: NormalizedUpdate | null;
}

const fullName = (u: { first_name?: string; last_name?: string } | undefined): string | null =>
  [u?.first_name, u?.last_name].filter((x) => x && x.trim()).join(' ').trim() || null;

/** A phone number as Telegram shares it (digits, sometimes without the +) in E.164 form. */
function contactPhone(raw: string): string {
  const digits = raw.replace(/[^\d+]/g, '');
  return digits.startsWith('+') ? digits : `+${digits}`;
}

/** The kind of a non-text message and its file id, when it has one. */
function mediaOf(m: TelegramMessage): { kind: string; fileId: string | null; contentType: string } {
  if (m.photo?.length) return { kind: 'photo', fileId: m.photo[m.photo.length - 1]!.file_id, contentType: 'image/jpeg' };
  if (m.voice) return { kind: 'voice', fileId: m.voice.file_id, contentType: m.voice.mime_type ?? 'audio/ogg' };
  if (m.audio) return { kind: 'audio', fileId: m.audio.file_id, contentType: m.audio.mime_type ?? 'audio/mpeg' };
  if (m.video) return { kind: 'video', fileId: m.video.file_id, contentType: m.video.mime_type ?? 'video/mp4' };
  if (m.video_note) return { kind: 'video_note', fileId: m.video_note.file_id, contentType: 'video/mp4' };
  if (m.document) return { kind: 'document', fileId: m.document.file_id, contentType: m.document.mime_type ?? 'application/octet-stream' };
  if (m.sticker) return { kind: 'sticker', fileId: m.sticker.file_id, contentType: 'image/webp' };
  if (m.animation) return { kind: 'animation', fileId: m.animation.file_id, contentType: m.animation.mime_type ?? 'video/mp4' };
  if (m.location) return { kind: 'location', fileId: null, contentType: 'application/vnd.telegram.location' };
  if (m.contact) return { kind: 'contact', fileId: null, contentType: 'text/vcard' };
  return { kind: 'other', fileId: null, contentType: 'application/octet-stream' };
}

/** The update as the engine should see it; null when it is not an update at all (no update_id). */
export function readUpdate(raw: unknown): ReadUpdate | null {
  const parsed = update.safeParse(raw);
  if (!parsed.success) return null;
  const { update_id: updateId, callback_query: cq, message: m } = parsed.data;
  return { updateId, callbackQueryId: cq?.id ?? null, normalized: normalized(cq, m) };
}

function normalized(cq: z.infer<typeof update>['callback_query'], m: TelegramMessage | undefined): NormalizedUpdate | null {
  if (cq) {
    const chatOf = cq.message?.chat;
    if (chatOf && chatOf.type !== 'private') return null;
    if (cq.data === undefined) return null;
    return {
      chatId: String(chatOf?.id ?? cq.from.id), providerMessageId: `cbq:${cq.id}`, text: cq.data,
      profileName: fullName(cq.from), kind: 'callback', languageCode: cq.from.language_code ?? null,
    };
  }
  if (!m || m.chat.type !== 'private') return null;
  const base = {
    chatId: String(m.chat.id), providerMessageId: `${m.chat.id}:${m.message_id}`, profileName: fullName(m.from), languageCode: m.from?.language_code ?? null,
  };
  if (m.text !== undefined) {
    if (/^\/start(?:@\w+)?(?:\s|$)/i.test(m.text)) return { ...base, text: '/start', kind: 'start' };
    return { ...base, text: m.text, kind: 'text' };
  }
  // The sender's own number, shared with Telegram's "share contact" button: the answer to the phone question.
  if (m.contact && m.from && m.contact.user_id === m.from.id) return { ...base, text: contactPhone(m.contact.phone_number), kind: 'contact' };
  const media = mediaOf(m);
  return {
    ...base, text: m.caption ?? '', kind: 'other',
    media: [{ url: media.fileId ? `telegram-file:${media.fileId}` : `telegram-${media.kind}:`, contentType: media.contentType }],
  };
}
