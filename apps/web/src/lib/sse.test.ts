import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openEventStream, type SseMessage, SseParser } from './sse.ts';

describe('SSE parser', () => {
  it('assembles messages across chunk boundaries, CRLF and multi-line data, skipping comments', () => {
    const p = new SseParser();
    const out: SseMessage[] = [];
    for (const chunk of [
      'retry: 2000\n\n: keep-alive\n\nid: 1\nev',
      'ent: state\ndata: {"a":',
      '1}\r\n\r\n',
      'data: x\ndata: y\n\n',
    ]) {
      out.push(...p.feed(chunk));
    }
    expect(out).toEqual([
      { id: '1', event: 'state', data: '{"a":1}' },
      { id: null, event: 'message', data: 'x\ny' },
    ]);
    expect(p.retryMs).toBe(2000);
  });
});

describe('event stream resume', () => {
  let server: Server | null = null;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  /** A loopback SSE endpoint whose behaviour per connection is scripted by the test. */
  async function serve(
    handler: (n: number, headers: IncomingHttpHeaders, res: import('node:http').ServerResponse) => void,
  ) {
    let n = 0;
    server = createServer((req, res) => handler(n++, req.headers, res));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  }

  const collect = (url: string, extra: Partial<Parameters<typeof openEventStream>[1]> = {}) =>
    new Promise<{ ids: string[]; opens: Array<string | null> }>((resolve, reject) => {
      const ids: string[] = [];
      const opens: Array<string | null> = [];
      const stream = openEventStream(url, {
        endEvent: 'end',
        minRetryMs: 10,
        onOpen: (info) => opens.push(info.lastEventId),
        onMessage: (m) => {
          if (m.event === 'end') {
            stream.close();
            resolve({ ids, opens });
          } else if (m.id) ids.push(m.id);
        },
        onFatal: reject,
        ...extra,
      });
      setTimeout(() => reject(new Error('timed out')), 5000);
    });

  it('reconnects after a dropped connection with Last-Event-ID and neither repeats nor skips', async () => {
    const seen: Array<string | undefined> = [];
    const url = await serve((n, headers, res) => {
      seen.push(headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const after = Number(headers['last-event-id'] ?? 0);
      if (n === 0) {
        res.write('retry: 10\n\nid: 1\nevent: progress\ndata: {}\n\nid: 2\nevent: progress\ndata: {}\n\n');
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      for (let id = after + 1; id <= 4; id++) res.write(`id: ${id}\nevent: progress\ndata: {}\n\n`);
      res.end('event: end\ndata: {}\n\n');
    });
    const { ids, opens } = await collect(url);
    expect(ids).toEqual(['1', '2', '3', '4']);
    expect(seen).toEqual([undefined, '2']);
    expect(opens).toEqual([null, '2']);
  });

  it('starts after a given id and stops for good on a 4xx, passing the server message on', async () => {
    const url = await serve((_n, headers, res) => {
      if (headers['last-event-id'] === '7') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not_found', message: 'execution x not found' }));
      }
    });
    await expect(collect(url, { lastEventId: '7' })).rejects.toThrow('execution x not found');
  });
});
