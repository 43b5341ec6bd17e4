/**
 * A Cloud API notification (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks)
 * read as the webhook uses it. Meta signs it, but its shape is still input:
 * a change, message, status or contact that does not have the shape we read
 * is dropped on its own and counted, so one odd item neither fails the others
 * nor gets a 500 that Meta would redeliver for days.
 */
import { z } from 'zod';
import type { InboundMessage } from '../types.js';

/** A wamid: what a redelivery is known by, so never empty, and storable (no U+0000). */
const wamid = z.string().min(1).refine((s) => !s.includes('\u0000'));

const reply = z.object({ id: z.string().optional().catch(undefined), title: z.string().optional().catch(undefined) });

/** The parts of a message we read; the media object of its type (image, audio...) stays under its type's key. */
const waMessage = z.looseObject({
  from: z.string().min(1),
  id: wamid,
  // Past the sender and the id, a part we cannot read is left out rather than the message: the patient is still
  // answered (the bot says it did not understand) and staff see that something came.
  type: z.string().optional().catch(undefined),
  text: z.object({ body: z.string().catch('') }).optional().catch(undefined),
  interactive: z.object({
    type: z.string().optional().catch(undefined),
    button_reply: reply.optional().catch(undefined),
    list_reply: reply.optional().catch(undefined),
  }).optional().catch(undefined),
  /** A quick-reply button of a template message. */
  button: z.object({ payload: z.string().optional().catch(undefined), text: z.string().optional().catch(undefined) }).optional().catch(undefined),
});
export type WaMessage = z.infer<typeof waMessage>;

const waStatus = z.object({
  id: wamid,
  status: z.string(),
  recipient_id: z.string().optional().catch(undefined),
  errors: z.array(z.object({ code: z.union([z.number(), z.string()]).optional() }).catch({})).optional().catch(undefined),
});
export type WaStatus = z.infer<typeof waStatus>;

const waContact = z.object({ wa_id: z.string(), profile: z.object({ name: z.string().optional().catch(undefined) }).optional().catch(undefined) });

/** A change: only the `messages` field's are read (an app may subscribe to others, whose values differ). */
const change = z.object({ field: z.string().optional(), value: z.unknown() });
const messagesValue = z.object({
  // Meta's ids are digits; anything else cannot name one of our numbers.
  metadata: z.object({ phone_number_id: z.string().regex(/^\d{1,32}$/) }),
  contacts: z.unknown().optional(),
  messages: z.unknown().optional(),
  statuses: z.unknown().optional(),
});

export interface WaChange {
  phoneNumberId: string;
  messages: WaMessage[];
  statuses: WaStatus[];
  /** Profile names by wa_id. */
  names: Map<string, string>;
}

/** The notification's changes of the `messages` field, each with the items that have the shape we read; `dropped` counts the rest. */
export function readNotification(body: unknown): { changes: WaChange[]; dropped: number } {
  let dropped = 0;
  /** `value` as `schema` reads it; null, counted as dropped, when it does not. */
  const read = <T>(value: unknown, schema: z.ZodType<T>): T | null => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) dropped++;
    return parsed.success ? parsed.data : null;
  };
  /** The elements of `list` that `schema` reads; anything else (a list that is not one included) counts as dropped. */
  const itemsOf = <T>(list: unknown, schema: z.ZodType<T>): T[] => {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) {
      dropped++;
      return [];
    }
    return list.flatMap((item) => read(item, schema) ?? []);
  };
  const changes: WaChange[] = [];
  const entries = itemsOf((body as { entry?: unknown }).entry, z.object({ changes: z.unknown() }));
  for (const entry of entries) {
    for (const c of itemsOf(entry.changes, change)) {
      if (c.field && c.field !== 'messages') continue;
      const value = read(c.value, messagesValue);
      if (!value) continue;
      const names = new Map<string, string>();
      for (const contact of itemsOf(value.contacts, waContact)) if (contact.profile?.name) names.set(contact.wa_id, contact.profile.name);
      changes.push({
        phoneNumberId: value.metadata.phone_number_id, names,
        messages: itemsOf(value.messages, waMessage), statuses: itemsOf(value.statuses, waStatus),
      });
    }
  }
  return { changes, dropped };
}

/** The text the engine sees for a message, and its media; null for what is not a message (reactions, system notices). */
export function normalizeWhatsAppMessage(m: WaMessage): { text: string; media?: InboundMessage['media']; kind: string } | null {
  const type = m.type ?? 'unknown';
  switch (type) {
    case 'text':
      return { text: m.text?.body ?? '', kind: 'text' };
    case 'interactive': {
      const tapped = m.interactive?.button_reply ?? m.interactive?.list_reply;
      if (!tapped) return null;
      return { text: tapped.id ?? tapped.title ?? '', kind: m.interactive?.type ?? 'interactive' };
    }
    case 'button':
      return { text: m.button?.payload || m.button?.text || '', kind: 'button' };
    case 'reaction':
    case 'system':
    case 'unsupported':
    case 'request_welcome':
      return null;
    default: {
      // image, audio, video, document, sticker carry { id, mime_type, caption? }; location and contacts carry neither.
      const part = (m[type] && typeof m[type] === 'object' ? m[type] : {}) as { id?: unknown; mime_type?: unknown; caption?: unknown };
      const id = typeof part.id === 'string' && part.id ? part.id : null;
      return {
        text: typeof part.caption === 'string' ? part.caption : '',
        media: [{ url: id ? `whatsapp-media:${id}` : `whatsapp-${type}:`, contentType: typeof part.mime_type === 'string' ? part.mime_type : `application/x-whatsapp-${type}` }],
        kind: type,
      };
    }
  }
}
