/**
 * Checks every response a test receives against /openapi.json: the status must
 * be documented for the operation and the body must match its schema.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { buildOpenApiDocument } from '../../api/http/openapi.js';

// ajv-formats is CommonJS with a default export; under NodeNext the namespace is what TypeScript sees.
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

interface Operation { responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }> }
interface Compiled { regex: RegExp; method: string; template: string; op: Operation }

let compiled: Compiled[] | null = null;
let ajv: Ajv2020;
const validators = new Map<string, ValidateFunction>();

function load(): Compiled[] {
  if (compiled) return compiled;
  const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'doc', components: doc.components } as object);
  compiled = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    const regex = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    for (const [method, op] of Object.entries(methods)) compiled.push({ regex, method, template, op });
  }
  // Literal paths win over templated ones (/appointments/available-slots vs /appointments/{id}).
  compiled.sort((a, b) => (a.template.includes('{') ? 1 : 0) - (b.template.includes('{') ? 1 : 0));
  return compiled;
}

function rewriteRefs(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"doc#/components/'));
}

/** Throws with a readable message when the response does not match the document. */
export function assertMatchesOpenApi(method: string, path: string, status: number, contentType: string, body: unknown): void {
  const pathname = path.split('?')[0];
  const entry = load().find((c) => c.method === method.toLowerCase() && c.regex.test(pathname));
  if (!entry) throw new Error(`OpenAPI: ${method} ${pathname} is not documented`);
  const response = entry.op.responses[String(status)];
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  let schema: unknown;
  let key = `${method} ${entry.template} ${status}`;
  if (response?.$ref || (!response && status >= 400)) {
    // Errors are the JSON envelope; any operation may answer 400/401/403/429/500 with it.
    if (mediaType !== 'application/json') throw new Error(`OpenAPI: ${key} answered ${contentType || 'no content type'} instead of the JSON error envelope`);
    schema = { $ref: 'doc#/components/schemas/Error' };
  } else if (response?.content) {
    const documented = response.content[mediaType];
    if (!documented) throw new Error(`OpenAPI: ${key} answered ${contentType || 'no content type'}; documented: ${Object.keys(response.content).join(', ')}`);
    schema = documented.schema;
    key += ` ${mediaType}`;
  } else {
    throw new Error(`OpenAPI: ${method} ${entry.template} does not document status ${status}`);
  }
  // Files (CSV, PDF, NDJSON) are checked for their documented media type only; tests parse them.
  if (!/^application\/([\w.-]+\+)?json$/.test(mediaType)) return;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(rewriteRefs(schema) as object);
    validators.set(key, validate);
  }
  if (!validate(body)) {
    throw new Error(`OpenAPI: ${key} response does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 800)}`);
  }
}
