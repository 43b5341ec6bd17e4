/**
 * WS /api/v1/voice/stream/<CallSid> (VAANI's WebSocket API): where Twilio
 * connects the audio of a call answered with <Connect><Stream>
 * (VOICE_RECOGNITION=stream). The handshake must carry Twilio's signature
 * over the socket's public address (403 otherwise) and name a call that came
 * in and has not ended (404, 410); each accepted socket is a CallStream.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { findCallBySid } from '../../models/calls.js';
import { isUpgradeSignedByTwilio } from '../twilioRequest.js';
import { CallStream, type CallStreamDeps, type CallStreamStats } from './callStream.js';

/** A Twilio CallSid: CA and 32 hex digits. */
const CALL_SID = /^CA[0-9a-fA-F]{32}$/;
/** Twilio's frames are 20 ms of audio (about 300 bytes as JSON); anything near this is not Twilio's. */
const MAX_FRAME_BYTES = 64 * 1024;

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export class VoiceStreamServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  private readonly streams = new Set<CallStream>();
  private closing = false;
  /** Totals since start, for /metrics. */
  readonly stats: CallStreamStats = { opened: 0, utterances: 0, notHeard: 0, fallbacks: 0 };

  constructor(private readonly deps: CallStreamDeps) {}

  /** For the upgrade router: takes over an upgrade request for `/api/v1/voice/stream/<CallSid>`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { logger } = this.deps;
    if (this.closing) return refuse(socket, 503, 'Service Unavailable');
    if (!isUpgradeSignedByTwilio(this.deps.config, req)) {
      logger.warn('voice stream: a connection with a missing or wrong signature refused');
      return refuse(socket, 403, 'Forbidden');
    }
    const callSid = new URL(req.url ?? '/', 'http://localhost').pathname.split('/').filter(Boolean).pop() ?? '';
    if (!CALL_SID.test(callSid)) return refuse(socket, 404, 'Not Found');
    findCallBySid(this.deps.db.knex, callSid).then((call) => {
      if (!call || !call.conversation_id) return refuse(socket, 404, 'Not Found');
      if (call.ended_at) return refuse(socket, 410, 'Gone');
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.stats.opened += 1;
        const stream = new CallStream(ws, call, this.deps, this.stats);
        this.streams.add(stream);
        ws.on('close', () => this.streams.delete(stream));
      });
    }).catch((err: unknown) => {
      logger.error({ err, call_sid: callSid }, 'voice stream: opening failed');
      refuse(socket, 500, 'Internal Server Error');
    });
  }

  /** Streams open on this instance. */
  get size(): number {
    return this.streams.size;
  }

  /** The service stops: each call goes on with Twilio's recognizer, through the <Connect> action on another instance. */
  close(): void {
    this.closing = true;
    for (const stream of this.streams) stream.close();
  }
}
