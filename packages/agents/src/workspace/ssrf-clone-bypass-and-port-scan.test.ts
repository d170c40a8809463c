import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace } from './create-workspace.ts';
import type { RepoPolicy } from './repo-guard.ts';
import { tempDir } from './test-helpers.ts';

/**
 * Issue 17, item 3, at clone time: git must connect only to what the guard checked, and its
 * network errors must not reach the user (they told an open port from a closed one). Every
 * connection here stays on loopback.
 */
let root: string;
let n = 0;
const nextId = () => `ssrf-${++n}`;

/** A loopback TCP service that records what it is sent, and answers as a web server without git. */
function listen(): Promise<{ server: Server; port: number; requests: string[]; connections: () => number }> {
  const requests: string[] = [];
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        requests.push(text);
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ server, port, requests, connections: () => connections });
    }),
  );
}

async function closedPort(): Promise<number> {
  const { server, port } = await listen();
  await new Promise((r) => server.close(r));
  return port;
}

let web: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  root = tempDir('ssrf-ws');
  web = await listen();
});
afterAll(async () => {
  await new Promise((r) => web?.server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('cloning what was checked (issue 17 item 3)', () => {
  it('a backslash-userinfo URL is refused before git runs, so nothing reaches loopback', async () => {
    const before = web.connections();
    const policy: RepoPolicy = { allowLocal: false, allowPrivate: [] };
    await expect(
      createWorkspace({
        root,
        executionId: nextId(),
        repoUrl: `http://192.0.2.2\\@127.0.0.1:${web.port}/x`,
        policy,
      }),
    ).rejects.toThrow(/backslash/);
    expect(web.connections()).toBe(before);
  });

  it("never echoes git's network errors: a closed port and a non-git service answer alike", async () => {
    const policy: RepoPolicy = { allowLocal: false, allowPrivate: ['127.0.0.1'] };
    const closed = await closedPort();
    const messageFor = async (port: number, ref?: string) => {
      const err = await createWorkspace({
        root,
        executionId: nextId(),
        repoUrl: `http://127.0.0.1:${port}/a.git`,
        policy,
        ...(ref ? { ref } : {}),
      }).then(
        () => new Error('cloned'),
        (e: Error) => e,
      );
      return err.message.replaceAll(String(port), 'PORT');
    };
    for (const ref of [undefined, 'main']) {
      const refused = await messageFor(closed, ref);
      const answered = await messageFor(web.port, ref);
      expect(answered).toBe(refused);
      expect(refused).not.toMatch(/connect|refused|404|HTTP\/|fatal|unable to access|curl|not found/i);
      expect(refused).toMatch(/could not fetch http:\/\/127\.0\.0\.1:PORT\/a\.git/);
    }
  });

  it('clones the normalised URL it checked, at the address it checked', async () => {
    const policy: RepoPolicy = { allowLocal: false, allowPrivate: ['localhost'] };
    web.requests.length = 0;
    await expect(
      createWorkspace({
        root,
        executionId: nextId(),
        repoUrl: `HTTP://LocalHost:${web.port}/x/../a.git`,
        policy,
      }),
    ).rejects.toThrow(/could not fetch/);
    const first = web.requests[0] ?? '';
    expect(first).toMatch(/^GET \/a\.git\/info\/refs\?service=git-upload-pack HTTP\/1\.1\r\n/);
    expect(first).toMatch(new RegExp(`\\r\\nHost: localhost:${web.port}\\r\\n`));
  });
});
