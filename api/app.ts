/** The Koa application: fixed middleware order, then one router per resource. */
import Koa from 'koa';
import Router from '@koa/router';
import { koaBody, HttpMethodEnum } from 'koa-body';
import { accessLog, errorEnvelope, requestId, securityHeaders } from './http/middleware.js';
import { authenticate } from './http/authenticate.js';
import { mountRoutes } from './http/route.js';
import { createMetrics } from './http/metrics.js';
import { apiRoutes, systemRoutes } from './routes/index.js';
import { mountStatic } from './static.js';
import type { AppDeps } from './deps.js';

export interface CreatedApp {
  app: Koa;
  router: Router;
}

export function createApp(deps: AppDeps): CreatedApp {
  const app = new Koa({ proxy: deps.config.TRUST_PROXY });
  const router = new Router();
  const metrics = createMetrics(deps);

  app.use(requestId());
  app.use(accessLog(deps.logger, metrics.observe));
  app.use(errorEnvelope(deps.logger));
  app.use(securityHeaders());
  // Multipart only where a route takes a file (api/http/multipart.ts), after the caller is authorized.
  app.use(koaBody({
    multipart: false,
    includeUnparsed: true,
    jsonLimit: '1mb',
    formLimit: '1mb',
    parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
    onError: (err) => { throw Object.assign(err, { status: 400 }); },
  }));
  app.use(authenticate(deps.db.knex, deps.tokens, () => deps.clock.now()));

  mountRoutes(router, '', systemRoutes, deps);
  mountRoutes(router, '/api/v1', apiRoutes, deps);
  router.get('/metrics', metrics.handler);
  for (const extra of deps.extraRouters ?? []) router.use(extra.routes(), extra.allowedMethods());
  mountStatic(router, deps.db.knex);

  app.use(router.routes());
  app.use(router.allowedMethods());
  // Errors Koa reports after the response started (a streamed body that failed or whose client went away);
  // without a listener Koa prints them to stderr.
  app.on('error', (err: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    const clientGone = ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '');
    deps.logger[clientGone ? 'debug' : 'error']({ err, request_id: ctx?.state.requestId, path: ctx?.path }, clientGone ? 'client went away during the response' : 'response failed');
  });
  return { app, router };
}
