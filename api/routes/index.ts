/** Every router of the API, in one list (each file is one resource). */
import type { MountableRoute } from '../http/route.js';
import { systemRoutes as healthAndDocsRoutes, adminHealthRoutes } from './system.js';
import { mediaRoutes } from './media.js';
import { authRoutes } from './auth.js';
import { usersRoutes } from './users.js';
import { apiKeysRoutes } from './apiKeys.js';
import { patientRoutes } from './patients.js';
import { doctorsRoutes } from './doctors.js';
import { appointmentsRoutes } from './appointments.js';
import { conversationExportRoutes } from './conversationExports.js';
import { conversationRoutes } from './conversations.js';
import { messageRoutes } from './messages.js';
import { voiceMessageRoutes } from './voiceMessages.js';
import { ticketRoutes } from './tickets.js';
import { callLogRoutes } from './callLogs.js';
import { communicationRoutes } from './communications.js';
import { templateRoutes } from './templates.js';
import { settingsRoutes } from './settings.js';
import { channelRoutes } from './channels.js';
import { webhookRoutes } from './webhooks.js';
import { analyticsRoutes } from './analytics.js';

/** Mounted without the /api/v1 prefix. */
export const systemRoutes: MountableRoute[] = [...healthAndDocsRoutes, ...mediaRoutes];

export const apiRoutes: MountableRoute[] = [
  ...adminHealthRoutes,
  ...authRoutes,
  ...usersRoutes,
  ...apiKeysRoutes,
  ...patientRoutes,
  ...doctorsRoutes,
  ...appointmentsRoutes,
  // Before conversationRoutes: /conversations/export must not reach /conversations/:id.
  ...conversationExportRoutes,
  ...conversationRoutes,
  ...messageRoutes,
  ...voiceMessageRoutes,
  ...ticketRoutes,
  ...callLogRoutes,
  ...communicationRoutes,
  ...templateRoutes,
  ...settingsRoutes,
  ...channelRoutes,
  ...webhookRoutes,
  ...analyticsRoutes,
];
