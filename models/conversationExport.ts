/** Reads for conversation exports: one conversation with everything a transcript needs. */
import type { Db, OrgScope } from './base.js';
import { getConversation, type Conversation } from './conversations.js';
import { listConversationMessages, type Message } from './messages.js';
import { getOrganization } from './organizations.js';

export interface ConversationExport {
  organization: { id: string; name: string; time_zone: string };
  conversation: Conversation;
  /** Oldest first. */
  messages: Message[];
}

/** One live conversation of the organization with its messages and the organization's name and time zone; 404 otherwise. */
export async function loadConversationExport(db: Db, scope: OrgScope, id: string): Promise<ConversationExport> {
  const conversation = await getConversation(db, scope, id);
  const messages = await listConversationMessages(db, scope, id);
  const org = await getOrganization(db, scope.organizationId);
  return { organization: { id: org.id, name: org.name, time_zone: org.time_zone }, conversation, messages };
}
