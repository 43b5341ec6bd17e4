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
  if (!contentType.includes('json')) return;
  const response = entry.op.responses[String(status)];
  let schema: unknown;
  if (response?.$ref) schema = { $ref: 'doc#/components/schemas/Error' };
  else if (response?.content) schema = Object.values(response.content)[0].schema;
  else if (status >= 400) schema = { $ref: 'doc#/components/schemas/Error' }; // any operation may answer 400/401/403/429/500 in the error envelope
  else throw new Error(`OpenAPI: ${method} ${entry.template} does not document status ${status}`);
  const key = `${method} ${entry.template} ${status}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(rewriteRefs(schema) as object);
    validators.set(key, validate);
  }
  if (!validate(body)) {
    throw new Error(`OpenAPI: ${key} response does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 800)}`);
  }
}
