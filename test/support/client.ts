/** A small HTTP client for tests: real requests, every response checked against OpenAPI. */
import { assertMatchesOpenApi } from './openapi.js';

export interface ApiResponse<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  status: number;
  headers: Headers;
  body: T;
  text: string;
  /** The raw body (files: PDF...). */
  bytes: Buffer;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Skip the OpenAPI check (only for endpoints that are not JSON APIs). */
  raw?: boolean;
}

/** application/json or application/*+json (not NDJSON, whose body is lines of JSON). */
export const isJson = (contentType: string): boolean => /^application\/([\w.-]+\+)?json\s*(;|$)/i.test(contentType);

export class ApiClient {
  constructor(readonly baseUrl: string, readonly token?: string) {}

  as(token: string): ApiClient {
    return new ApiClient(this.baseUrl, token);
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token ?? this.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body });
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    const contentType = res.headers.get('content-type') ?? '';
    let parsed: unknown = text;
    if (isJson(contentType) && text) parsed = JSON.parse(text);
    if (!opts.raw && path.startsWith('/')) assertMatchesOpenApi(method, path, res.status, contentType, parsed);
    return { status: res.status, headers: res.headers, body: parsed as T, text, bytes };
  }

  get<T = any>(path: string, opts?: RequestOptions) { return this.request<T>('GET', path, opts); } // eslint-disable-line @typescript-eslint/no-explicit-any
  post<T = any>(path: string, body?: unknown, opts?: RequestOptions) { return this.request<T>('POST', path, { ...opts, body }); } // eslint-disable-line @typescript-eslint/no-explicit-any
  put<T = any>(path: string, body?: unknown, opts?: RequestOptions) { return this.request<T>('PUT', path, { ...opts, body }); } // eslint-disable-line @typescript-eslint/no-explicit-any
  patch<T = any>(path: string, body?: unknown, opts?: RequestOptions) { return this.request<T>('PATCH', path, { ...opts, body }); } // eslint-disable-line @typescript-eslint/no-explicit-any
  delete<T = any>(path: string, opts?: RequestOptions) { return this.request<T>('DELETE', path, opts); } // eslint-disable-line @typescript-eslint/no-explicit-any
}
