/**
 * Builds /openapi.json from the same zod schemas that validate requests and
 * describe responses, so the document cannot drift from the code.
 */
import { z } from 'zod';
import type { RouteSpec } from './route.js';

type JsonSchema = Record<string, unknown>;

const registered: RouteSpec[] = [];

export function registerForOpenApi(spec: RouteSpec): void {
  registered.push(spec);
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return json;
}

const errorEnvelope: JsonSchema = {
  type: 'object',
  required: ['success', 'error', 'request_id'],
  properties: {
    success: { const: false },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: ['VALIDATION_ERROR', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'UNPROCESSABLE_ENTITY', 'RATE_LIMIT_EXCEEDED', 'INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE'] },
        message: { type: 'string' },
        details: {},
      },
    },
    request_id: { type: 'string' },
  },
};

const pagination: JsonSchema = {
  type: 'object',
  required: ['page', 'limit', 'total', 'total_pages'],
  additionalProperties: false,
  properties: { page: { type: 'integer' }, limit: { type: 'integer' }, total: { type: 'integer' }, total_pages: { type: 'integer' } },
};

function successEnvelope(spec: RouteSpec): JsonSchema {
  if (spec.raw) return toSchema(spec.response, 'output');
  const properties: JsonSchema = { success: { const: true }, data: toSchema(spec.response, 'output'), message: { type: 'string' } };
  const required = ['success', 'data'];
  if (spec.list) {
    properties.pagination = { $ref: '#/components/schemas/Pagination' };
    required.push('pagination');
  }
  return { type: 'object', required, additionalProperties: false, properties };
}

function parameters(spec: RouteSpec): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [['path', spec.params], ['query', spec.query]] as const) {
    if (!schema) continue;
    const json = toSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, s] of Object.entries(json.properties ?? {})) {
      out.push({ name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: s, ...(s.description ? { description: s.description } : {}) });
    }
    for (const [alias, canonical] of Object.entries(spec.aliases ?? {})) {
      if (where === 'query' && json.properties?.[canonical]) {
        out.push({ name: alias, in: 'query', required: false, schema: json.properties[canonical], description: `Alias of ${canonical}` });
      }
    }
  }
  return out;
}

function requestBody(spec: RouteSpec): JsonSchema | undefined {
  if (!spec.body) return undefined;
  const json = toSchema(spec.body, 'input') as { properties?: Record<string, JsonSchema> };
  for (const [alias, canonical] of Object.entries(spec.aliases ?? {})) {
    if (json.properties?.[canonical]) json.properties[alias] = { ...json.properties[canonical], description: `Alias of ${canonical}` };
  }
  if (spec.upload) {
    const withFile = json as { properties?: Record<string, JsonSchema>; required?: string[] };
    withFile.properties = { ...withFile.properties, [spec.upload.field]: { type: 'string', format: 'binary', description: spec.upload.description } };
    withFile.required = [...(withFile.required ?? []), spec.upload.field];
    return { required: true, content: { 'multipart/form-data': { schema: withFile } } };
  }
  const contentType = spec.bodyType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
  return { required: true, content: { [contentType]: { schema: json } } };
}

/** The OpenAPI 3.1 document for every registered route. */
export function buildOpenApiDocument(serverUrl = '/'): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const spec of registered) {
    const path = spec.fullPath.replace(/:([A-Za-z_]+)/g, '{$1}');
    const content = spec.raw && spec.contents
      ? Object.fromEntries(Object.entries(spec.contents).map(([type, schema]) => [type, { schema: toSchema(schema, 'output') }]))
      : { [spec.contentType ?? 'application/json']: { schema: successEnvelope(spec) } };
    const success: JsonSchema = { description: 'Success', content };
    if (spec.download) {
      success.headers = { 'Content-Disposition': { description: 'attachment; filename="…"', schema: { type: 'string' } } };
    }
    const responses: Record<string, JsonSchema> = { [String(spec.status ?? 200)]: success };
    for (const code of spec.errors ?? []) {
      responses[String(code)] = { $ref: `#/components/responses/Error${code}` };
    }
    const operation: JsonSchema = {
      operationId: spec.operationId,
      summary: spec.summary,
      tags: [spec.tag],
      parameters: parameters(spec),
      responses,
    };
    const body = requestBody(spec);
    if (body) operation.requestBody = body;
    if (spec.auth !== 'none') operation.security = [{ bearer: [] }];
    if (spec.permission) operation.description = `Required permission: ${[spec.permission].flat().join(' or ')}`;
    (paths[path] ??= {})[spec.method] = operation;
  }
  const errorResponses: Record<string, JsonSchema> = {};
  for (const code of [400, 401, 403, 404, 409, 422, 429, 500, 503]) {
    errorResponses[`Error${code}`] = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'CareChat API', version: '1.0.0', description: 'Clinic messaging chatbot: patients, doctors, appointments, conversations, tickets, communications.' },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A JWT access token or an API key' } },
      schemas: { Error: errorEnvelope, Pagination: pagination },
      responses: errorResponses,
    },
  };
}
