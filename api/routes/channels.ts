/** GET /channels: the state of each channel adapter (public, like /admin/health: no patient data). */
import { z } from 'zod';
import { route } from '../http/route.js';

const channelSchema = z.object({
  name: z.string().describe('webchat, sms, whatsapp, telegram, voice'),
  enabled: z.boolean().describe('False when the channel has no credentials configured'),
  status: z.string().describe('up, down or off'),
  detail: z.string().optional(),
});

export const channelRoutes = [
  route({
    method: 'get', path: '/channels', operationId: 'listChannels', summary: 'State of each messaging channel', tag: 'channels', auth: 'none',
    response: z.array(channelSchema),
    handler: async ({ deps }) => ({
      data: (deps.hooks.channelStatus?.() ?? []).map((c) => ({ name: c.name, enabled: c.enabled, status: c.status, ...(c.detail ? { detail: c.detail } : {}) })),
    }),
  }),
];
