import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, livePidsRunning, plainWorkspace, tempDir } from './test-helpers.ts';
import { createToolbox, type Toolbox } from './toolbox.ts';

/*
 * The attack of issue 17, replayed against run_command: an agent's command read the server's
 * keys from /proc/<server pid>/environ, other executions' workspaces and the data directory,
 * and reached PostgreSQL on loopback. This test process plays the server.
 */
const ENV_CANARY = `env-canary-${randomBytes(12).toString('hex')}`;
const KEY_CANARY = `key-canary-${randomBytes(12).toString('hex')}`;
const OTHER_CANARY = `other-ws-canary-${randomBytes(12).toString('hex')}`;
const CHECKOUT = fileURLToPath(new URL('../../../../', import.meta.url));

let root: string;
let dataDir: string;
let otherWorkspace: string;
let workspace: string;
let tb: Toolbox;
let listener: Server;
let listenerPort: number;

beforeAll(async () => {
  process.env.CANARY_SANDBOX_SECRET = ENV_CANARY;
  root = tempDir('server');
  dataDir = join(root, '.data');
  workspace = join(dataDir, 'workspaces', 'exec-a');
  otherWorkspace = join(dataDir, 'workspaces', 'exec-b');
  mkdirSync(workspace, { recursive: true });
  mkdirSync(otherWorkspace, { recursive: true });
  writeFileSync(join(dataDir, 'audit-hmac.key'), `${KEY_CANARY}\n`, { mode: 0o600 });
  writeFileSync(join(otherWorkspace, 'notes.txt'), `${OTHER_CANARY}\n`);
  tb = createToolbox({ workspace: plainWorkspace(workspace) });
  // A service on the server's loopback, standing in for PostgreSQL and Redis.
  listener = createServer((s) => s.end('hello from the host\n'));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerPort = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  delete process.env.CANARY_SANDBOX_SECRET;
  await new Promise((resolve) => listener.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

const run = async (command: string) => (await call(tb, 'run_command', { command })).output;

const connectScript = (port: number) =>
  `node -e "require('net').connect(${port},'127.0.0.1').on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',(e)=>{console.log('REFUSED '+e.code);process.exit(1)})"`;

describe('an agent command in the sandbox', () => {
  it('cannot read the server environment: cat /proc/*/environ, env and /proc/1/environ', async () => {
    const out = await run('cat /proc/*/environ; env; cat /proc/1/environ | wc -c');
    expect(out).not.toContain(ENV_CANARY);
    expect(out).not.toContain('CANARY_SANDBOX_SECRET');
    // bwrap is PID 1 inside and was started with an empty environment.
    expect(out).toMatch(/^0$/m);
  });

  it('sees only its own processes in ls /proc', async () => {
    const out = await run('ls /proc | grep -E "^[0-9]+$"; cat /proc/1/cmdline | tr "\\0" " "');
    const pids = out.split('\n').filter((l) => /^\d+$/.test(l));
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.length).toBeLessThanOrEqual(4);
    expect(pids).not.toContain(String(process.pid));
    expect(out).toContain('bwrap');
  });

  it('cannot read the data directory, another execution workspace or the server checkout', async () => {
    const out = await run(
      [
        `cat ${dataDir}/audit-hmac.key`,
        `echo "data dir holds: $(ls ${dataDir})"`,
        `cat ${otherWorkspace}/notes.txt`,
        `echo "workspaces root holds: $(ls ${join(dataDir, 'workspaces')})"`,
        `ls ${CHECKOUT}packages`,
        'ls /root /home /var/run/postgresql /run/postgresql /work 2>&1',
        'cat /etc/shadow',
        // Everything but /usr (read-only system files) and the kernel's own trees.
        'for d in /*; do case $d in /usr|/bin|/sbin|/lib*|/proc|/sys|/dev) ;; *) grep -rl canary- "$d";; esac; done',
        'echo done',
      ].join('; '),
    );
    expect(out).not.toContain(KEY_CANARY);
    expect(out).not.toContain(OTHER_CANARY);
    expect(out).toMatch(/^data dir holds: workspaces$/m);
    expect(out).toMatch(/^workspaces root holds: exec-a$/m);
    expect(out).toMatch(/cat: .*exec-b\/notes.txt: No such file or directory/);
    expect(out).toMatch(/ls: cannot access '.*packages': No such file or directory/);
    expect(out).toMatch(/cat: .*audit-hmac.key: No such file or directory/);
    expect(out).toMatch(/ls: cannot access '\/root': No such file or directory/);
    expect(out).toMatch(/ls: cannot access '\/run\/postgresql': No such file or directory/);
    expect(out).toMatch(/cat: \/etc\/shadow: No such file or directory/);
    expect(out).toContain('done');
  });

  it('cannot connect to a service on the server loopback (PostgreSQL 5432, a host listener) with network none', async () => {
    const out = await run(`${connectScript(5432)}; ${connectScript(listenerPort)}`);
    expect(out).not.toContain('CONNECTED');
    expect(out.match(/REFUSED ECONNREFUSED/g)?.length).toBe(2);
  });

  it('cannot write outside the workspace, and the host keeps no trace', async () => {
    const out = await run(
      [
        `echo x > ${dataDir}/planted`,
        `mkdir -p ${otherWorkspace} && echo x > ${otherWorkspace}/planted`,
        'echo x > /usr/planted',
        'echo x > /etc/planted',
        'echo x > /planted',
        'echo x > planted-inside && echo inside-ok',
      ].join('; '),
    );
    expect(out).toContain('inside-ok');
    expect(out).toMatch(/Read-only file system/);
    expect(existsSync(join(dataDir, 'planted'))).toBe(false);
    expect(existsSync(join(otherWorkspace, 'planted'))).toBe(false);
    expect(existsSync('/usr/planted')).toBe(false);
    expect(existsSync('/etc/planted')).toBe(false);
    expect(existsSync('/planted')).toBe(false);
    expect(readFileSync(join(workspace, 'planted-inside'), 'utf8')).toBe('x\n');
  });

  it('cannot leave a process behind: a `setsid sleep 1000 &` child dies with the tool call', async () => {
    const out = await run(
      'setsid sleep 1000.5 > /dev/null 2>&1 & nohup sleep 1000.6 > /dev/null 2>&1 & echo started',
    );
    expect(out).toBe('started\n[exit code: 0]');
    expect(livePidsRunning('sleep 1000.')).toEqual([]);
  });

  it('runs as an unprivileged user with no capabilities and no nested user namespaces', async () => {
    const out = await run(
      'id -u; grep CapEff /proc/self/status; unshare -U true && echo NESTED || echo no-nested',
    );
    expect(out).toMatch(/^1000$/m);
    expect(out).toMatch(/CapEff:\s+0+$/m);
    expect(out).toContain('no-nested');
  });
});
