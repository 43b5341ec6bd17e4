import argon2 from 'argon2';
import type { Knex } from 'knex';
import { BaseModel, escapeLike, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, fieldError, notFound } from '../lib/errors.js';

export type UserRole = 'admin' | 'provider' | 'staff';

export class User extends BaseModel {
  static override tableName = 'users';
  static override jsonAttributes = ['permissions'];
  id!: string;
  organization_id!: string;
  email!: string;
  username!: string | null;
  password_hash!: string;
  first_name!: string;
  last_name!: string;
  role!: UserRole;
  permissions!: string[];
  doctor_id!: string | null;
  is_active!: boolean;
  token_version!: number;
  last_login_at!: Date | null;
  deleted_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, { type: argon2.argon2id });
export const verifyPassword = (hash: string, password: string): Promise<boolean> => argon2.verify(hash, password).catch(() => false);

export interface CreateUserInput {
  email: string;
  username?: string | null;
  password: string;
  first_name?: string;
  last_name?: string;
  role: UserRole;
  permissions?: string[];
  doctor_id?: string | null;
  is_active?: boolean;
}

/** Creates a user; 409 when the email or username is taken (they are global: login needs no organization). */
export async function createUser(db: Db, scope: OrgScope, input: CreateUserInput): Promise<User> {
  const taken = await User.query(db)
    .whereNull('deleted_at')
    .where((q) => {
      q.whereRaw('lower(email) = lower(?)', [input.email]);
      if (input.username) q.orWhereRaw('lower(username) = lower(?)', [input.username]);
    })
    .first();
  if (taken) throw conflict('A user with this email or username already exists', { field: taken.email.toLowerCase() === input.email.toLowerCase() ? 'email' : 'username' });
  return User.query(db).insertAndFetch({
    id: newId('user'),
    organization_id: scope.organizationId,
    email: input.email.toLowerCase(),
    username: input.username ?? null,
    password_hash: await hashPassword(input.password),
    first_name: input.first_name ?? '',
    last_name: input.last_name ?? '',
    role: input.role,
    permissions: input.permissions ?? [],
    doctor_id: input.doctor_id ?? null,
    is_active: input.is_active ?? true,
  });
}

export async function getUser(db: Db, scope: OrgScope, id: string): Promise<User> {
  const user = await User.query(db).where({ id, organization_id: scope.organizationId }).whereNull('deleted_at').first();
  if (!user) throw notFound('User');
  return user;
}

/** Usernames never contain '@', so a login name with one is always an email. */
export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,64}$/;

const liveUsers = (db: Db, orgId: string) => User.query(db).where({ organization_id: orgId }).whereNull('deleted_at');

export interface ListUsersInput {
  page: number;
  limit: number;
  role?: UserRole;
  isActive?: boolean;
  search?: string;
  sort: [string, 'asc' | 'desc'];
}

export async function listUsers(db: Db, scope: OrgScope, input: ListUsersInput): Promise<{ rows: User[]; total: number }> {
  const q = liveUsers(db, scope.organizationId);
  if (input.role) q.where({ role: input.role });
  if (input.isActive !== undefined) q.where({ is_active: input.isActive });
  if (input.search) {
    const term = `%${escapeLike(input.search)}%`;
    q.where((w) => {
      w.where('email', 'ilike', term).orWhere('username', 'ilike', term)
        .orWhereRaw(`(first_name || ' ' || last_name) ilike ?`, [term]);
    });
  }
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy(input.sort[0], input.sort[1]).orderBy('id', input.sort[1]).limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

/** The live user a login name (email, or username without '@') belongs to, in any organization. */
export async function findUserByLogin(db: Db, login: string): Promise<User | undefined> {
  const column = login.includes('@') ? 'email' : 'username';
  return User.query(db).whereNull('deleted_at').whereRaw(`lower(${column}) = lower(?)`, [login.trim()]).first();
}

async function assertLoginFree(db: Db, input: { email?: string; username?: string | null }, exceptId: string): Promise<void> {
  if (!input.email && !input.username) return;
  const taken = await User.query(db)
    .whereNull('deleted_at')
    .whereNot({ id: exceptId })
    .where((q) => {
      if (input.email) q.orWhereRaw('lower(email) = lower(?)', [input.email]);
      if (input.username) q.orWhereRaw('lower(username) = lower(?)', [input.username]);
    })
    .first();
  if (taken) {
    const field = input.email && taken.email.toLowerCase() === input.email.toLowerCase() ? 'email' : 'username';
    throw conflict(`A user with this ${field} already exists`, { field });
  }
}

/**
 * Ends every session of a user: outstanding access tokens stop verifying
 * (token_version) and every refresh token is revoked.
 */
export async function endSessions(db: Db, userId: string, now: Date): Promise<void> {
  await User.query(db).where({ id: userId }).patch({ token_version: User.raw('token_version + 1'), updated_at: now } as unknown as Partial<User>);
  await (db as Knex)('refresh_tokens').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: now });
}

/**
 * Refuses a change that would leave the organization without an active admin.
 * The organization row is locked so two admins demoting each other at once
 * cannot both succeed.
 */
async function assertAnotherActiveAdmin(db: Db, orgId: string, userId: string): Promise<void> {
  await (db as Knex)('organizations').where({ id: orgId }).forUpdate().first('id');
  const [{ count }] = (await liveUsers(db, orgId).where({ role: 'admin', is_active: true }).whereNot({ id: userId })
    .clearSelect().count('* as count')) as unknown as { count: number }[];
  if (Number(count) === 0) {
    throw conflict('This is the last active admin of the organization: make another user admin first', { reason: 'last_active_admin' });
  }
}

export interface UpdateUserInput {
  email?: string;
  username?: string | null;
  /** Already hashed (hash outside the transaction: argon2 takes tens of milliseconds). */
  password_hash?: string;
  first_name?: string;
  last_name?: string;
  role?: UserRole;
  permissions?: string[];
  doctor_id?: string | null;
  is_active?: boolean;
}

/**
 * Updates a user. A new password or a deactivation ends the user's sessions;
 * demoting or deactivating the last active admin is refused (409).
 */
export async function updateUser(db: Db, scope: OrgScope, id: string, input: UpdateUserInput, now: Date): Promise<User> {
  const existing = await getUser(db, scope, id);
  if (input.email !== undefined) input = { ...input, email: input.email.toLowerCase() };
  await assertLoginFree(db, { email: input.email !== existing.email ? input.email : undefined, username: input.username }, id);
  const losesAdmin = existing.role === 'admin' && existing.is_active
    && ((input.role !== undefined && input.role !== 'admin') || input.is_active === false);
  if (losesAdmin) await assertAnotherActiveAdmin(db, scope.organizationId, id);
  const patch: Partial<User> = { updated_at: now };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) (patch as Record<string, unknown>)[k] = v;
  const updated = await existing.$query(db).patchAndFetch(patch);
  if (input.password_hash || (input.is_active === false && existing.is_active)) {
    await endSessions(db, id, now);
    return getUser(db, scope, id);
  }
  return updated;
}

/** Soft delete: the user can no longer log in, its sessions end, its email and username become free. */
export async function deleteUser(db: Db, scope: OrgScope, id: string, now: Date): Promise<void> {
  const existing = await getUser(db, scope, id);
  if (existing.role === 'admin' && existing.is_active) await assertAnotherActiveAdmin(db, scope.organizationId, id);
  await existing.$query(db).patch({ deleted_at: now, is_active: false, updated_at: now } as Partial<User>);
  await endSessions(db, id, now);
}

/** A provider links to a doctor of its own organization; anything else is a 400 naming doctor_id. */
export async function assertDoctorInOrg(db: Db, scope: OrgScope, doctorId: string): Promise<void> {
  const doctor = await (db as Knex)('doctors').where({ id: doctorId, organization_id: scope.organizationId }).whereNull('deleted_at').first('id');
  if (!doctor) throw fieldError('doctor_id', 'no such doctor in this organization');
}
