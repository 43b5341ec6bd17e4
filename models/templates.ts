/**
 * Message templates: one body per language, checked when saved (known
 * variables only, the same variables in every language), soft-deleted so the
 * messages sent with one keep a meaningful template_id.
 */
import { BaseModel, escapeLike, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound, validationError } from '../lib/errors.js';
import { checkBodies, variablesOf, type TemplateVariable } from '../lib/templates.js';

export class MessageTemplate extends BaseModel {
  static override tableName = 'message_templates';
  static override jsonAttributes = ['bodies', 'variables'];
  id!: string;
  organization_id!: string;
  name!: string;
  description!: string | null;
  channel!: string | null;
  category!: string;
  bodies!: Record<string, string>;
  variables!: TemplateVariable[];
  created_by!: string | null;
  deleted_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

export interface TemplateInput {
  name?: string;
  description?: string | null;
  channel?: string | null;
  category?: string;
  /** Language -> body; in a patch, a null body removes that language. */
  bodies?: Record<string, string | null>;
}

export interface ListTemplatesInput {
  page: number;
  limit: number;
  channel?: string;
  category?: string;
  search?: string;
}

const live = (db: Db, orgId: string) => MessageTemplate.query(db).where({ organization_id: orgId }).whereNull('deleted_at');

/** Throws 400 naming `bodies.<lang>` for unknown variables, malformed placeholders or mismatched variable sets. */
export function assertValidBodies(bodies: Record<string, string>): void {
  if (Object.keys(bodies).length === 0) {
    throw validationError('bodies: at least one language body is required', [{ field: 'bodies', message: 'at least one language body is required' }]);
  }
  const problems = checkBodies(bodies);
  if (problems.length) {
    throw validationError(`Validation failed: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
  }
}

async function assertNameFree(db: Db, orgId: string, name: string, exceptId?: string): Promise<void> {
  const q = live(db, orgId).whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  const other = await q.first();
  if (other) throw conflict('A template with this name already exists', { field: 'name', existing_template_id: other.id });
}

export async function listTemplates(db: Db, scope: OrgScope, input: ListTemplatesInput): Promise<{ rows: MessageTemplate[]; total: number }> {
  const q = live(db, scope.organizationId);
  if (input.channel) q.where((w) => w.where({ channel: input.channel }).orWhereNull('channel'));
  if (input.category) q.where({ category: input.category });
  if (input.search) q.where('name', 'ilike', `%${escapeLike(input.search)}%`);
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy('name', 'asc').orderBy('id', 'asc').limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

export async function getTemplate(db: Db, scope: OrgScope, id: string): Promise<MessageTemplate> {
  const t = await live(db, scope.organizationId).findById(id);
  if (!t) throw notFound('Template');
  return t;
}

/** A template by id (`tpl_…`) or, as in the PRM examples, by its name. */
export async function findTemplateByIdOrName(db: Db, scope: OrgScope, idOrName: string): Promise<MessageTemplate> {
  const t = idOrName.startsWith('tpl_')
    ? await live(db, scope.organizationId).findById(idOrName)
    : await live(db, scope.organizationId).whereRaw('lower(name) = lower(?)', [idOrName]).first();
  if (!t) throw notFound('Template');
  return t;
}

export async function createTemplate(db: Db, scope: OrgScope, input: TemplateInput & { name: string; bodies: Record<string, string> }, createdBy: string | null): Promise<MessageTemplate> {
  assertValidBodies(input.bodies);
  await assertNameFree(db, scope.organizationId, input.name);
  return MessageTemplate.query(db).insertAndFetch({
    id: newId('template'),
    organization_id: scope.organizationId,
    name: input.name,
    description: input.description ?? null,
    channel: input.channel ?? null,
    category: input.category ?? 'general',
    bodies: input.bodies,
    variables: variablesOf(input.bodies),
    created_by: createdBy,
  } as Partial<MessageTemplate>);
}

/** Patches fields; `bodies` merges by language (null removes one) and the result is checked as a whole. */
export async function updateTemplate(db: Db, scope: OrgScope, id: string, input: TemplateInput): Promise<MessageTemplate> {
  const existing = await getTemplate(db, scope, id);
  const patch: Partial<MessageTemplate> = { updated_at: new Date() };
  if (input.name !== undefined && input.name.toLowerCase() !== existing.name.toLowerCase()) {
    await assertNameFree(db, scope.organizationId, input.name, id);
  }
  if (input.name !== undefined) patch.name = input.name;
  if (input.description !== undefined) patch.description = input.description;
  if (input.channel !== undefined) patch.channel = input.channel;
  if (input.category !== undefined) patch.category = input.category;
  if (input.bodies !== undefined) {
    const merged: Record<string, string> = { ...existing.bodies };
    for (const [lang, body] of Object.entries(input.bodies)) {
      if (body === null) delete merged[lang];
      else merged[lang] = body;
    }
    assertValidBodies(merged);
    patch.bodies = merged;
    patch.variables = variablesOf(merged);
  }
  return existing.$query(db).patchAndFetch(patch);
}

export async function deleteTemplate(db: Db, scope: OrgScope, id: string): Promise<void> {
  const existing = await getTemplate(db, scope, id);
  await existing.$query(db).patch({ deleted_at: new Date(), updated_at: new Date() } as Partial<MessageTemplate>);
}
