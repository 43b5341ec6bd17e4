import argon2 from 'argon2';
import { BaseModel, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound } from '../lib/errors.js';

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
