import WebSocket from 'ws';
import { TransientRunnerError } from '../runner.ts';
import { AUTH_REJECTED, trimBase } from './agent-server-client.ts';

/*
 * The agent-server's event socket: /sockets/events/{conversation_id} at the
 * server root, not under /api (sockets.py, mounted by api.py). It accepts the
 * key as an `X-Session-API-Key` header on the upgrade, a `session_api_key`
 * query parameter, or a first {"type":"auth"} frame; we use the header so the
 * key never lands in a URL or an access log. A bad key closes the socket with
 * 4001, an unknown conversation with 4004. Frames are JSON events.
 */

export type SocketItem =
  | { kind: 'event'; event: Record<string, unknown> }
  | { kind: 'closed'; code: number; reason: string };

const CLOSE_TIMEOUT_MS = 1_000;

export class EventSocket {
  private readonly items: SocketItem[] = [];
  private waiter: ((item: SocketItem) => void) | undefined;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        const event: unknown = JSON.parse(data.toString());
        if (typeof event === 'object' && event !== null && !Array.isArray(event)) {
          this.push({ kind: 'event', event: event as Record<string, unknown> });
        }
      } catch {
        // Not an event; the server sends nothing else on this socket.
      }
    });
    // Errors after the handshake are followed by 'close', which is what we act on.
    ws.on('close', (code, reason) => this.push({ kind: 'closed', code, reason: reason.toString() }));
  }

  /** Connects; resolves once the socket is open. */
  static open(
    url: string,
    conversationId: string,
    apiKey: string | undefined,
    signal: AbortSignal,
  ): Promise<EventSocket> {
    const wsUrl = `${trimBase(url).replace(/^http/, 'ws')}/sockets/events/${encodeURIComponent(conversationId)}`;
    const base = trimBase(url);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, {
        ...(apiKey ? { headers: { 'X-Session-API-Key': apiKey } } : {}),
        handshakeTimeout: 10_000,
      });
      // An 'error' without a listener would crash the process; the handlers below decide what errors mean.
      ws.on('error', () => {});
      const settle = (fn: () => void) => {
        signal.removeEventListener('abort', onAbort);
        ws.off('open', onOpen);
        ws.off('error', onError);
        ws.off('unexpected-response', onUnexpected);
        fn();
      };
      const onAbort = () =>
        settle(() => {
          ws.terminate();
          reject(signal.reason);
        });
      const onOpen = () => settle(() => resolve(new EventSocket(ws)));
      const onError = (err: Error) =>
        settle(() => {
          ws.terminate();
          const code = (err as NodeJS.ErrnoException).code ?? err.message;
          reject(
            new TransientRunnerError(`the OpenHands event socket at OPENHANDS_URL (${base}) failed: ${code}`),
          );
        });
      const onUnexpected = (req: { destroy(): void }, res: { statusCode?: number }) =>
        settle(() => {
          req.destroy();
          const status = res.statusCode ?? 0;
          if (status === 401 || status === 403) reject(new Error(AUTH_REJECTED));
          else if (status >= 500 || status === 429) {
            reject(
              new TransientRunnerError(
                `the OpenHands event socket at OPENHANDS_URL (${base}) answered ${status}`,
              ),
            );
          } else reject(new Error(`the OpenHands event socket at ${base} answered ${status}`));
        });
      ws.once('open', onOpen);
      ws.once('error', onError);
      ws.once('unexpected-response', onUnexpected);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  next(): Promise<SocketItem> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Closes the socket; resolves once it is closed (a server that does not answer the close gets cut off). */
  close(): Promise<void> {
    const ws = this.ws;
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState !== WebSocket.CLOSING) ws.close(1000, 'done');
    });
  }

  private push(item: SocketItem) {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(item);
    } else {
      this.items.push(item);
    }
  }
}
