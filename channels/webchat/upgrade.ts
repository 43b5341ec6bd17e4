/**
 * Routes the http.Server's `upgrade` event by path, so several WebSocket
 * endpoints (web chat at `/chat`, later voice media streams) share one port.
 * An upgrade for a path nobody handles is answered 404 and closed.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface UpgradeRouter {
  /** Handles upgrades whose path is exactly `path` (the query string is ignored). */
  route(path: string, handler: UpgradeHandler): void;
  /** Listens to the server's `upgrade` event; returns a function that stops listening. */
  attach(server: http.Server): () => void;
}

export function createUpgradeRouter(): UpgradeRouter {
  const routes = new Map<string, UpgradeHandler>();

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      pathname = '';
    }
    const handler = routes.get(pathname.replace(/\/+$/, '') || '/');
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
    attach(server) {
      server.on('upgrade', onUpgrade);
      return () => server.off('upgrade', onUpgrade);
    },
  };
}
