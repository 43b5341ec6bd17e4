/** Static pages: the API docs (swagger-ui-dist, served locally) and files in public/ (widget, demo page). */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Knex } from 'knex';

const require = createRequire(import.meta.url);
const swaggerDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const publicDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'public');

const TYPES: Record<string, string> = { '.js': 'application/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml', '.map': 'application/json' };

async function sendFile(ctx: Context, file: string, cache = 'public, max-age=300'): Promise<boolean> {
  try {
    const body = await fs.readFile(file);
    ctx.type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    ctx.set('Cache-Control', cache);
    ctx.body = body;
    return true;
  } catch {
    return false;
  }
}

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>CareChat API</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;

const DEMO_ORG_PLACEHOLDER = '__CARECHAT_ORG_ID__';
const ORG_ID = /^org_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * The organization the demo page's widget talks to: `/?org=org_…` previews
 * another one (organization ids are public: they sit in every embed tag),
 * otherwise the first organization, created at first start.
 */
async function demoOrganizationId(ctx: Context, knex: Knex): Promise<string> {
  const asked = typeof ctx.query.org === 'string' ? ctx.query.org : '';
  if (ORG_ID.test(asked)) return asked;
  const first = (await knex('organizations').orderBy('created_at').orderBy('id').first('id')) as { id: string } | undefined;
  return first?.id ?? '';
}

export function mountStatic(router: Router, knex: Knex): void {
  router.get('/docs', (ctx) => {
    ctx.type = 'html';
    ctx.body = DOCS_HTML;
  });
  router.get('/docs/init.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.body = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });";
  });
  router.get('/docs/assets/:file', async (ctx) => {
    const file = path.basename(ctx.params.file);
    if (!(await sendFile(ctx, path.join(swaggerDir, file), 'public, max-age=86400'))) ctx.status = 404;
  });
  router.get('/', async (ctx) => {
    if (!(await sendFile(ctx, path.join(publicDir, 'index.html'), 'no-cache'))) {
      ctx.type = 'html';
      ctx.body = '<!doctype html><title>CareChat</title><h1>CareChat</h1><p>API docs at <a href="/docs">/docs</a>.</p>';
      return;
    }
    const html = String(ctx.body as Buffer).replaceAll(DEMO_ORG_PLACEHOLDER, await demoOrganizationId(ctx, knex));
    ctx.body = html;
  });
  router.get('/widget/:file', async (ctx) => {
    const file = path.basename(ctx.params.file);
    if (!(await sendFile(ctx, path.join(publicDir, 'widget', file)))) ctx.status = 404;
  });
}
