import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideEgress } from './egress-proxy.ts';
import type { NetworkPolicy } from './network-policy.ts';
import { createSandbox } from './sandbox.ts';
import { call, plainWorkspace, tempDir } from './test-helpers.ts';
import { createToolbox } from './toolbox.ts';

/*
 * Network of agent commands, per project setting. No packet leaves this machine: the "remote"
 * is a loopback HTTP server of this test, which the egress proxy reaches only because the test
 * lists it as an admin would in ALLOWED_PRIVATE_HOSTS.
 */
let dir: string;
let web: Server;
let port: number;

beforeAll(async () => {
  dir = tempDir('net');
  web = createServer((req, res) => res.end(`hello from ${req.headers.host}${req.url}\n`));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  port = (web.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => web.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function toolbox(network: NetworkPolicy, allowPrivate: string[] = []) {
  return createToolbox({
    workspace: plainWorkspace(dir),
    network,
    sandbox: createSandbox({ enabled: true, allowPrivate }),
  });
}

async function run(network: NetworkPolicy, command: string, allowPrivate: string[] = []) {
  return (await call(toolbox(network, allowPrivate), 'run_command', { command })).output;
}

/**
 * curl's body and status, through whatever proxy the sandbox set (none under network: none).
 * NO_PROXY is dropped: the sandbox exempts localhost, which this test uses as its "remote".
 */
const fetchCmd = (url: string, extra = '') =>
  `env -u NO_PROXY -u no_proxy curl -sS --max-time 5 ${extra} -w ' [status %{http_code}]' ${url} 2>&1; echo`;

describe('network: none (the default)', () => {
  it('has no proxy and reaches nothing, not even the server loopback', async () => {
    const out = await run({ mode: 'none' }, `env | grep -i proxy; ${fetchCmd(`http://127.0.0.1:${port}/x`)}`);
    expect(out).not.toMatch(/proxy=/i);
    expect(out).not.toContain('hello from');
    expect(out).toMatch(/Failed to connect|Couldn't connect/);
  });
});

describe('network: allowlist', () => {
  const policy: NetworkPolicy = { mode: 'allowlist', hosts: ['localhost'] };

  it('lets a listed host through the egress proxy, over plain HTTP and CONNECT', async () => {
    const out = await run(
      policy,
      `${fetchCmd(`http://localhost:${port}/plain`)}; ${fetchCmd(`http://localhost:${port}/tunnel`, '--proxytunnel')}`,
      ['localhost'],
    );
    expect(out).toContain(`hello from localhost:${port}/plain\n [status 200]`);
    expect(out).toContain(`hello from localhost:${port}/tunnel\n [status 200]`);
  });

  it('refuses a host that is not listed, by name, whatever its address', async () => {
    const out = await run(policy, fetchCmd(`http://127.0.0.1:${port}/by-ip`), ['localhost', '127.0.0.1']);
    expect(out).toContain("egress refused: 127.0.0.1 is not in the project's network_allow list");
    expect(out).toContain('[status 403]');
    expect(out).not.toContain('hello from');
  });

  it('cannot go around the proxy: a direct connection has no network to use', async () => {
    const out = await run(policy, fetchCmd(`http://localhost:${port}/direct`, '--noproxy "*"'), [
      'localhost',
    ]);
    expect(out).not.toContain('hello from');
  });
});

describe('network: open', () => {
  it('reaches hosts through the proxy, but never the server loopback or private networks', async () => {
    const out = await run({ mode: 'open' }, fetchCmd(`http://localhost:${port}/open`));
    expect(out).toContain('egress refused: localhost is on a loopback or private network');
    expect(out).toContain('[status 403]');
    expect(out).not.toContain('hello from');
  });

  it('reaches a private host an admin allowed (ALLOWED_PRIVATE_HOSTS)', async () => {
    const out = await run({ mode: 'open' }, fetchCmd(`http://localhost:${port}/allowed`), ['localhost']);
    expect(out).toContain(`hello from localhost:${port}/allowed\n [status 200]`);
  });
});

describe('decideEgress', () => {
  const lookup = async (host: string) => {
    const table: Record<string, string[]> = {
      'api.example.com': ['93.184.215.14'],
      'cdn.example.com': ['93.184.215.15'],
      'rebind.example.com': ['93.184.215.16', '10.0.0.5'],
    };
    const found = table[host];
    if (!found) throw new Error('ENOTFOUND');
    return found.map((address) => ({ address }));
  };
  const rules = (network: NetworkPolicy, extra: Partial<Parameters<typeof decideEgress>[0]> = {}) => ({
    network,
    allowPrivate: [],
    runnerDestinations: [],
    lookup,
    ...extra,
  });

  it('matches allowlist entries exactly or as *.domain, case and trailing dot aside', async () => {
    const list = rules({ mode: 'allowlist', hosts: ['API.example.com', '*.example.com'] });
    expect(await decideEgress(list, 'api.example.com.', 443)).toEqual({ ok: true, address: '93.184.215.14' });
    expect(await decideEgress(list, 'cdn.example.com', 443)).toMatchObject({ ok: true });
    const exact = rules({ mode: 'allowlist', hosts: ['api.example.com'] });
    expect(await decideEgress(exact, 'cdn.example.com', 443)).toMatchObject({ ok: false });
    expect(await decideEgress(exact, 'example.com', 443)).toMatchObject({ ok: false });
  });

  it('refuses a name with any private address, and private literals, unless allowed', async () => {
    const open = rules({ mode: 'open' });
    expect(await decideEgress(open, 'rebind.example.com', 443)).toMatchObject({ ok: false });
    for (const ip of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '::1', '[::ffff:127.0.0.1]']) {
      expect(await decideEgress(open, ip, 80), ip).toMatchObject({ ok: false });
    }
    const allowed = rules({ mode: 'open' }, { allowPrivate: ['10.0.0.0/8'] });
    expect(await decideEgress(allowed, 'rebind.example.com', 443)).toMatchObject({ ok: true });
  });

  it('lets the runner reach its own destinations (goose provider) even under network none', async () => {
    const none = rules({ mode: 'none' }, { runnerDestinations: ['127.0.0.1:11434'] });
    expect(await decideEgress(none, '127.0.0.1', 11434)).toEqual({ ok: true, address: '127.0.0.1' });
    expect(await decideEgress(none, '127.0.0.1', 5432)).toMatchObject({ ok: false });
  });
});
