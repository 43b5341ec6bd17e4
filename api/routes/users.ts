import type { MountableRoute } from '../http/route.js';

export const usersRoutes: MountableRoute[] = [];
