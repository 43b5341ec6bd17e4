/**
 * Routes the http.Server's `upgrade` event by path, so several WebSocket
 * endpoints (web chat at `/chat`, calls' media streams at
 * `/api/v1/voice/stream/<CallSid>`) share one port.
 * An upgrade for a path nobody handles is answered 404 and closed.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface UpgradeRouter {
  /** Handles upgrades whose path is exactly `path` (the query string is ignored). */
  route(path: string, handler: UpgradeHandler): void;
  /** Handles upgrades whose path is `prefix` followed by one more segment (`/api/v1/voice/stream/` + a CallSid). */
  routePrefix(prefix: string, handler: UpgradeHandler): void;
  /** Listens to the server's `upgrade` event; returns a function that stops listening. */
  attach(server: http.Server): () => void;
}

export function createUpgradeRouter(): UpgradeRouter {
  const routes = new Map<string, UpgradeHandler>();
  const prefixes: Array<[string, UpgradeHandler]> = [];

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      pathname = '';
    }
    const path = pathname.replace(/\/+$/, '') || '/';
    const handler = routes.get(path) ?? prefixes.find(([prefix]) => path.startsWith(prefix) && !path.slice(prefix.length).includes('/'))?.[1];
    if (!handler) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    handler(req, socket, head);
  };

  return {
    route(path, handler) {
      routes.set(path, handler);
    },
    routePrefix(prefix, handler) {
      prefixes.push([prefix.endsWith('/') ? prefix : `${prefix}/`, handler]);
    },
    attach(server) {
      server.on('upgrade', onUpgrade);
      return () => server.off('upgrade', onUpgrade);
    },
  };
}
