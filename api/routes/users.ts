/** /users: the people who log in to a clinic (PRM). Admins manage them; anyone may read and rename themselves. */
import { z } from 'zod';
import { route, paginationQuery, paginate, parseSort, idParam } from '../http/route.js';
import { forgetCachedUser } from '../http/authenticate.js';
import { presentUser, userSchema } from '../presenters/users.js';
import { authorize, PERMISSIONS, type Principal } from '../policies.js';
import {
  USERNAME_PATTERN, assertDoctorInOrg, createUser, deleteUser, getUser, hashPassword, listUsers, updateUser, type UserRole,
} from '../../models/users.js';
import type { Db, OrgScope } from '../../models/base.js';
import { fieldError, forbidden, unprocessable } from '../../lib/errors.js';

const roleInput = z.enum(['admin', 'provider', 'staff']);

const userFields = {
  email: z.email('must be a valid email address').max(320),
  username: z.string().regex(USERNAME_PATTERN, 'must be 3-64 letters, digits, "_", "." or "-"').nullable(),
  password: z.string().min(8, 'must be at least 8 characters').max(1024),
  first_name: z.string().trim().min(1, 'is required').max(100),
  last_name: z.string().trim().max(100),
  role: roleInput,
  permissions: z.array(z.enum(PERMISSIONS)).max(PERMISSIONS.length).describe('Extra permissions beyond the role'),
  doctor_id: z.string().min(1).max(64).nullable().describe('For a provider: the doctor record this user is'),
  is_active: z.boolean(),
};

const createBody = z.object({
  ...userFields,
  username: userFields.username.optional(),
  permissions: userFields.permissions.optional(),
  doctor_id: userFields.doctor_id.optional(),
  is_active: userFields.is_active.optional(),
});
const updateBody = z.object(userFields).partial();

/** Fields only a user manager may change, even on their own account. */
const PRIVILEGED = ['role', 'permissions', 'is_active', 'doctor_id', 'password'] as const;
const SORTABLE = ['created_at', 'updated_at', 'email', 'username', 'first_name', 'last_name', 'role', 'last_login_at'] as const;

/** PRM: "admin role or own user ID". */
function authorizeSelfOrManager(principal: Principal, userId: string): void {
  if (userId !== principal.userId) authorize(principal, 'user.manage');
}

/** Only a provider links to a doctor, and only to one of its own organization. */
async function checkDoctorLink(db: Db, scope: OrgScope, role: UserRole, doctorId: string | null | undefined): Promise<void> {
  if (!doctorId) return;
  if (role !== 'provider') throw fieldError('doctor_id', 'only a provider user can be linked to a doctor');
  await assertDoctorInOrg(db, scope, doctorId);
}

export const usersRoutes = [
  route({
    method: 'get', path: '/users', operationId: 'listUsers', summary: 'List the users of the organization', tag: 'users',
    permission: 'user.manage', rateLimit: 'admin', list: true,
    query: z.object({
      ...paginationQuery,
      role: roleInput.optional(),
      is_active: z.enum(['true', 'false']).optional(),
      status: z.enum(['active', 'inactive']).optional().describe('Same as is_active'),
      search: z.string().max(200).optional().describe('Search by name, email or username'),
    }),
    response: z.array(userSchema),
    handler: async ({ deps, orgId, query }) => {
      const isActive = query.is_active !== undefined ? query.is_active === 'true' : query.status !== undefined ? query.status === 'active' : undefined;
      const { rows, total } = await listUsers(deps.db.knex, { organizationId: orgId }, {
        page: query.page, limit: query.limit, role: query.role, isActive, search: query.search,
        sort: parseSort(query.sort, SORTABLE, ['created_at', 'asc']),
      });
      return { data: rows.map(presentUser), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/users', operationId: 'createUser', summary: 'Create a user', tag: 'users',
    permission: 'user.manage', rateLimit: 'admin', status: 201, body: createBody, response: userSchema, errors: [400, 409],
    handler: async ({ deps, orgId, body }) => {
      const scope = { organizationId: orgId };
      await checkDoctorLink(deps.db.knex, scope, body.role, body.doctor_id);
      // No transaction: the unique indexes settle a race, and argon2 must not run while one is open.
      const user = await createUser(deps.db.knex, scope, body);
      return { data: presentUser(user), message: 'User created successfully' };
    },
  }),
  route({
    method: 'get', path: '/users/:id', operationId: 'getUser', summary: 'Get a user (admin, or the user itself)', tag: 'users',
    rateLimit: 'admin', params: idParam('usr'), response: userSchema, errors: [403, 404],
    handler: async ({ deps, orgId, principal, params }) => {
      authorizeSelfOrManager(principal, params.id);
      return { data: presentUser(await getUser(deps.db.knex, { organizationId: orgId }, params.id)) };
    },
  }),
  route({
    method: 'patch', path: '/users/:id', operationId: 'updateUser',
    summary: 'Update a user (admin; a user may change its own name, email and username)', tag: 'users',
    rateLimit: 'admin', params: idParam('usr'), body: updateBody, response: userSchema, errors: [400, 403, 404, 409, 422],
    handler: async ({ deps, orgId, principal, params, body }) => {
      const scope = { organizationId: orgId };
      const self = params.id === principal.userId;
      authorizeSelfOrManager(principal, params.id);
      const privileged = PRIVILEGED.filter((f) => body[f] !== undefined);
      if (!principal.permissions.has('user.manage') && privileged.length) {
        throw forbidden(`Only a user manager can change ${privileged.join(', ')}`, { required_permission: 'user.manage', fields: privileged });
      }
      if (self && body.password !== undefined) {
        throw unprocessable('Change your own password with PUT /auth/profile, which asks for the current one', { field: 'password' });
      }
      const existing = await getUser(deps.db.knex, scope, params.id);
      const role = body.role ?? existing.role;
      await checkDoctorLink(deps.db.knex, scope, role, body.doctor_id);
      const passwordHash = body.password !== undefined ? await hashPassword(body.password) : undefined;
      const user = await deps.db.knex.transaction((trx) => updateUser(trx, scope, params.id, {
        email: body.email, username: body.username, first_name: body.first_name, last_name: body.last_name,
        role: body.role, permissions: body.permissions, is_active: body.is_active, password_hash: passwordHash,
        // A user that stops being a provider keeps no doctor link.
        doctor_id: role === 'provider' ? body.doctor_id : existing.doctor_id ? null : undefined,
      }, deps.clock.now()));
      forgetCachedUser(params.id);
      return { data: presentUser(user), message: 'User updated successfully' };
    },
  }),
  route({
    method: 'delete', path: '/users/:id', operationId: 'deleteUser', summary: 'Delete (deactivate) a user; its sessions end', tag: 'users',
    permission: 'user.manage', rateLimit: 'admin', params: idParam('usr'), response: z.null(), errors: [403, 404, 409],
    handler: async ({ deps, orgId, params }) => {
      await deps.db.knex.transaction((trx) => deleteUser(trx, { organizationId: orgId }, params.id, deps.clock.now()));
      forgetCachedUser(params.id);
      return { data: null, message: 'User deleted successfully' };
    },
  }),
];
