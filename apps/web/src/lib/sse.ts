import { reportUnauthorized } from './api.ts';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental text/event-stream parser: feed it chunks, get whole messages back. */
export class SseParser {
  private buffer = '';
  /** The server's `retry:` advice in ms, when it gave one. */
  retryMs: number | null = null;

  feed(chunk: string): SseMessage[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    const out: SseMessage[] = [];
    let cut = this.buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = this.buffer.slice(0, cut);
      this.buffer = this.buffer.slice(cut + 2);
      cut = this.buffer.indexOf('\n\n');
      const msg = this.parseBlock(block);
      if (msg) out.push(msg);
    }
    return out;
  }

  private parseBlock(block: string): SseMessage | null {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    let any = false;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
      else if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else continue;
      any = any || field !== 'retry';
    }
    return any ? { id, event, data: data.join('\n') } : null;
  }
}

export interface StreamOptions {
  onMessage(msg: SseMessage): void;
  /** Each (re)connection that the server accepted; `resumed` when it carried a Last-Event-ID. */
  onOpen?(info: { resumed: boolean; lastEventId: string | null }): void;
  /** A refusal (4xx) ends the stream for good; network trouble only delays it. */
  onFatal?(err: Error): void;
  /** Start after this id (as if it had been received already). */
  lastEventId?: string | null;
  /** The stream's last message type: after it the server closes and we do not reconnect. */
  endEvent?: string;
  fetchImpl?: typeof fetch;
  minRetryMs?: number;
}

/**
 * Server-Sent Events over fetch, so reconnects carry Last-Event-ID from the last
 * message we really received and the server resumes exactly there.
 */
export function openEventStream(url: string, opts: StreamOptions): { close(): void } {
  const doFetch = opts.fetchImpl ?? fetch;
  let lastId = opts.lastEventId ?? null;
  let stopped = false;
  let controller: AbortController | null = null;
  let retryMs = opts.minRetryMs ?? 1000;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const connect = async () => {
    controller = new AbortController();
    const parser = new SseParser();
    let ended = false;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastId !== null) headers['last-event-id'] = lastId;
      const res = await doFetch(url, { headers, signal: controller.signal, cache: 'no-store' });
      if (res.status >= 400 && res.status < 500) {
        const body = await res.text();
        let message = `HTTP ${res.status}`;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          // not JSON
        }
        stopped = true;
        if (res.status === 401) reportUnauthorized();
        opts.onFatal?.(new Error(message));
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      opts.onOpen?.({ resumed: lastId !== null, lastEventId: lastId });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const msg of parser.feed(value)) {
          if (msg.id !== null) lastId = msg.id;
          opts.onMessage(msg);
          if (opts.endEvent && msg.event === opts.endEvent) ended = true;
        }
        if (parser.retryMs !== null) retryMs = Math.max(opts.minRetryMs ?? 0, parser.retryMs);
      }
    } catch {
      // Dropped connection or server away: fall through to the reconnect below.
    }
    if (ended) stopped = true;
    if (!stopped) timer = setTimeout(connect, retryMs);
  };
  void connect();
  return {
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      controller?.abort();
    },
  };
}
