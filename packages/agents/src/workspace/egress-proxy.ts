import { lookup as dnsLookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { BlockList, connect, isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { hostAllowed, type NetworkPolicy, normalizeHost } from './network-policy.ts';
import { isPublicAddress } from './repo-guard.ts';

type Lookup = (host: string) => Promise<Array<{ address: string }>>;

export interface EgressRules {
  network: NetworkPolicy;
  /** ALLOWED_PRIVATE_HOSTS: host names, addresses or CIDRs that may be reached although private. */
  allowPrivate: readonly string[];
  /**
   * `host:port` pairs the runner itself needs (goose's model provider): reachable whatever the
   * project's policy, private or not, because the server's admin configured them.
   */
  runnerDestinations: readonly string[];
  lookup?: Lookup;
}

export interface EgressProxy {
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;
const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

type Verdict = { ok: true; address: string } | { ok: false; reason: string };

/**
 * Decides one destination by host name, then pins the address that was checked (a second DNS
 * answer cannot point the connection elsewhere).
 */
export async function decideEgress(rules: EgressRules, rawHost: string, port: number): Promise<Verdict> {
  const host = normalizeHost(rawHost);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    return { ok: false, reason: 'not a host:port' };
  }
  const forRunner = rules.runnerDestinations.some((d) => normalizeHost(d) === `${host}:${port}`);
  if (!forRunner) {
    const { network } = rules;
    if (network.mode === 'none')
      return { ok: false, reason: 'the project allows no network (network: none)' };
    if (network.mode === 'allowlist' && !hostAllowed(network.hosts, host)) {
      return { ok: false, reason: `${host} is not in the project's network_allow list` };
    }
  }
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await (rules.lookup ?? defaultLookup)(host)).map((a) => a.address);
  } catch {
    return { ok: false, reason: `${host} does not resolve` };
  }
  const first = addresses[0];
  if (first === undefined) return { ok: false, reason: `${host} does not resolve` };
  if (forRunner) return { ok: true, address: first };
  const allowed = privateAllowList(rules.allowPrivate);
  const own = ownAddresses();
  const reachable = (a: string) => (isPublicAddress(a) && !own.has(unmapped(a))) || allowed.address(a);
  if (!allowed.host(host) && !addresses.every(reachable)) {
    return {
      ok: false,
      reason: `${host} is on a loopback or private network, which agent commands may not reach (an admin can list it in ALLOWED_PRIVATE_HOSTS)`,
    };
  }
  return { ok: true, address: first };
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries. */
function unmapped(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

/**
 * This machine's own interface addresses: whatever the server listens on (0.0.0.0 covers them
 * all) must not become reachable from a sandbox because the address happens to look public.
 */
function ownAddresses(): Set<string> {
  return new Set(
    Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .map((i) => normalizeHost(i.address.replace(/%.*$/, ''))),
  );
}

function privateAllowList(entries: readonly string[]) {
  const hosts = new Set<string>();
  const nets = new BlockList();
  for (const raw of entries) {
    const [net, bits] = normalizeHost(raw).split('/');
    if (!net) continue;
    const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
    if (!isIP(net)) hosts.add(net);
    else if (bits === undefined) nets.addAddress(net, family);
    else nets.addSubnet(net, Number(bits), family);
  }
  return {
    host: (h: string) => hosts.has(h),
    address: (a: string) => {
      const plain = unmapped(a);
      return nets.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/**
 * The egress proxy of one sandboxed command: an HTTP forward proxy (absolute-form requests) and
 * CONNECT tunnels, on a unix socket that only that sandbox sees. Every destination goes through
 * decideEgress; a refusal answers 403 with the reason, for the agent to read.
 */
export async function startEgressProxy(socketPath: string, rules: EgressRules): Promise<EgressProxy> {
  const sockets = new Set<Socket | Duplex>();
  const track = (s: Socket | Duplex) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = createServer((req, res) => void forward(rules, req, res, track));
  server.on('connection', track);
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    void tunnel(rules, req, client, head, track);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function refuse(client: Duplex, status: number, reason: string) {
  const body = `egress refused: ${reason}\n`;
  client.end(
    `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Gateway'}\r\ncontent-type: text/plain\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function tunnel(
  rules: EgressRules,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  track: (s: Socket) => void,
) {
  client.on('error', () => client.destroy());
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(req.url ?? '');
  if (!m?.[1] || !m[2]) return refuse(client, 403, 'CONNECT needs host:port');
  const verdict = await decideEgress(rules, m[1], Number(m[2]));
  if (!verdict.ok) return refuse(client, 403, verdict.reason);
  const upstream = connect({ host: verdict.address, port: Number(m[2]), timeout: CONNECT_TIMEOUT_MS });
  track(upstream);
  upstream.once('timeout', () => upstream.destroy(new Error('connect timed out')));
  upstream.once('error', (err) => {
    if (upstream.connecting) refuse(client, 502, `cannot connect to ${m[1]}:${m[2]}: ${err.message}`);
    else client.destroy();
  });
  upstream.once('connect', () => {
    upstream.setTimeout(0);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  client.once('close', () => upstream.destroy());
}

async function forward(
  rules: EgressRules,
  req: IncomingMessage,
  res: ServerResponse,
  track: (s: Socket) => void,
) {
  const answer = (status: number, reason: string) => {
    res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`egress refused: ${reason}\n`);
  };
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return answer(400, 'this is an egress proxy: send absolute http:// URLs, or CONNECT for https');
  }
  if (url.protocol !== 'http:')
    return answer(400, `only http:// is forwarded (use CONNECT for ${url.protocol})`);
  const port = url.port ? Number(url.port) : 80;
  const verdict = await decideEgress(rules, url.hostname, port);
  if (!verdict.ok) return answer(403, verdict.reason);
  const headers = { ...req.headers };
  delete headers['proxy-connection'];
  delete headers['proxy-authorization'];
  const upstream = httpRequest({
    host: verdict.address,
    port,
    method: req.method,
    path: `${url.pathname}${url.search}`,
    headers,
    setHost: false,
    timeout: CONNECT_TIMEOUT_MS,
  });
  upstream.on('socket', track);
  upstream.once('timeout', () => upstream.destroy(new Error('timed out')));
  upstream.once('error', (err) => {
    if (!res.headersSent) answer(502, `cannot reach ${url.host}: ${err.message}`);
    else res.destroy();
  });
  upstream.once('response', (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  req.pipe(upstream);
}
