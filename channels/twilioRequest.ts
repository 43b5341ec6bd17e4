/**
 * What every Twilio webhook (SMS, voice) checks first: the form parameters,
 * and X-Twilio-Signature over the public URL and those parameters.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import twilio from 'twilio';
import type { Config } from '../lib/config.js';

export type TwilioParams = Record<string, string>;

/** The posted form as strings (a repeated key keeps its first value). */
export function twilioParams(ctx: Context): TwilioParams {
  const body = (ctx.request as unknown as { body?: unknown }).body;
  if (!body || typeof body !== 'object') return {};
  const out: TwilioParams = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) out[k] = Array.isArray(v) ? String(v[0]) : String(v ?? '');
  return out;
}

/** True when the request is Twilio's: the signature over PUBLIC_URL (or the URL we were reached at) and the form parameters. */
export function isSignedByTwilio(config: Config, ctx: Context, params: TwilioParams): boolean {
  const token = config.TWILIO_AUTH_TOKEN;
  const signature = ctx.get('x-twilio-signature');
  if (!token || !signature) return false;
  return twilio.validateRequest(token, signature, `${publicBase(config, ctx)}${ctx.originalUrl}`, params);
}

/** The base URL Twilio reaches us at (what it signs, and where TwiML's actions point). */
export function publicBase(config: Config, ctx: Context): string {
  return config.PUBLIC_URL ? config.PUBLIC_URL.replace(/\/+$/, '') : ctx.origin;
}

/** The same base as a WebSocket address (https → wss): where a call's <Stream> connects. */
export function publicWsBase(base: string): string {
  return base.replace(/^http(s?):/, 'ws$1:');
}

/**
 * True when a WebSocket handshake is Twilio's: X-Twilio-Signature over the
 * socket's public address (PUBLIC_URL, else the Host it reached), with no
 * parameters, as Twilio signs a Media Stream's connection. The address is
 * taken as the wss URL the <Stream> named, or as its https form: either is
 * only ours, so neither weakens the check.
 */
export function isUpgradeSignedByTwilio(config: Config, req: IncomingMessage): boolean {
  const token = config.TWILIO_AUTH_TOKEN;
  const signature = req.headers['x-twilio-signature'];
  if (!token || typeof signature !== 'string' || !signature) return false;
  const base = config.PUBLIC_URL ? config.PUBLIC_URL.replace(/\/+$/, '') : `http://${req.headers.host ?? 'localhost'}`;
  const path = req.url ?? '/';
  return [publicWsBase(base), base].some((address) => twilio.validateRequest(token, signature, `${address}${path}`, {}));
}
