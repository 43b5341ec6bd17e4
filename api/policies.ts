/**
 * Who may do what, in one table a reader can scan. Permission names follow the
 * PRM document; a user's effective permissions are its role's plus any extra
 * permissions granted to it. Handlers call `authorize()`, which throws 403.
 */
import { forbidden } from '../lib/errors.js';

export const PERMISSIONS = [
  'patient.view', 'patient.search', 'patient.create', 'patient.update', 'patient.delete',
  'doctor.view', 'doctor.manage',
  'appointment.view', 'appointment.create', 'appointment.update', 'appointment.cancel', 'appointment.reschedule',
  'conversation.view', 'conversation.reply', 'conversation.manage', 'conversation.delete', 'conversation.export',
  'communication.view', 'communication.send', 'communication.bulk', 'template.manage',
  'ticket.view', 'ticket.create', 'ticket.update', 'ticket.assign', 'ticket.resolve',
  'analytics.view', 'user.manage', 'api_key.manage', 'settings.manage', 'webhook.manage', 'system.view',
] as const;

export type Permission = (typeof PERMISSIONS)[number];
export type Role = 'admin' | 'provider' | 'staff';
export const ROLES: readonly Role[] = ['admin', 'provider', 'staff'];

const CLINICAL: Permission[] = [
  'patient.view', 'patient.search', 'patient.create', 'patient.update', 'doctor.view',
  'appointment.view', 'appointment.create', 'appointment.update', 'appointment.cancel', 'appointment.reschedule',
  'conversation.view', 'conversation.reply', 'communication.view', 'communication.send',
  'ticket.view', 'ticket.create', 'ticket.update',
];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  // Clinical care: their patients and appointments; a provider linked to a
  // doctor sees only that doctor's appointments.
  provider: CLINICAL,
  // Front desk: everything a receptionist does, but never deleting patients
  // or managing users, keys, settings and webhooks.
  staff: [
    ...CLINICAL, 'conversation.manage', 'conversation.export', 'communication.bulk', 'template.manage',
    'ticket.assign', 'ticket.resolve', 'analytics.view', 'system.view',
  ],
};

export function permissionsFor(role: Role, extra: readonly string[] = []): Set<Permission> {
  const set = new Set<Permission>(ROLE_PERMISSIONS[role]);
  for (const p of extra) if ((PERMISSIONS as readonly string[]).includes(p)) set.add(p as Permission);
  return set;
}

export interface Principal {
  kind: 'user' | 'api_key';
  organizationId: string;
  userId: string;
  role: Role;
  permissions: Set<Permission>;
  /** Set for a provider user linked to a doctor record. */
  doctorId: string | null;
  apiKeyId: string | null;
}

/** Throws 403 unless the principal holds at least one of the permissions. */
export function authorize(principal: Principal, ...anyOf: Permission[]): void {
  if (anyOf.some((p) => principal.permissions.has(p))) return;
  throw forbidden("You don't have permission to perform this action", { required_permission: anyOf.join(' or ') });
}
