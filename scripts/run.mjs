#!/usr/bin/env node
// Entry point of the root npm scripts. Works on a machine with only Node.js and npm:
// it installs the pinned pnpm (under .tools/, never globally) and the dependencies when
// needed, generates the Prisma client, builds the board and the server when their
// sources changed, then runs the requested command.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, '');
const bin = (name) => join(root, 'node_modules', '.bin', name);

// Every child inherits these: turbo neither phones home nor advertises updates.
process.env.TURBO_TELEMETRY_DISABLED = '1';
process.env.TURBO_NO_UPDATE_NOTIFIER = '1';

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    ...opts,
    env: { ...process.env, ...opts.env },
  });
  if (res.error) {
    console.error(`clawlink: could not run ${cmd}: ${res.error.message}`);
    process.exit(1);
  }
  return res.status ?? (res.signal ? 1 : 0);
}

function must(cmd, args, opts) {
  const code = run(cmd, args, opts);
  if (code !== 0) process.exit(code);
}

/**
 * Puts the pinned pnpm on PATH for this process and its children (turbo looks `pnpm` up
 * there). A pnpm of that version already on PATH is used as it is; otherwise npm installs
 * it once under .tools/, inside the repository: no global install, no corepack, no sudo.
 */
let pnpmReady = false;
function ensurePnpm() {
  if (pnpmReady) return;
  pnpmReady = true;
  const local = join(root, '.tools', `pnpm-${pnpmVersion}`);
  const localBin = join(local, 'node_modules', '.bin');
  if (!existsSync(join(localBin, 'pnpm'))) {
    const probe = spawnSync('pnpm', ['--version'], { cwd: root, encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.trim() === pnpmVersion) return;
    console.error(`clawlink: installing pnpm ${pnpmVersion} under .tools/ (first run)…`);
    must('npm', [
      'install',
      '--prefix',
      local,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      `pnpm@${pnpmVersion}`,
    ]);
  }
  process.env.PATH = `${localBin}${delimiter}${process.env.PATH ?? ''}`;
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function ensureInstalled() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (mtime(marker) >= mtime(join(root, 'pnpm-lock.yaml')) && existsSync(bin('tsx'))) return;
  console.error('clawlink: installing dependencies (first run)…');
  ensurePnpm();
  must('pnpm', ['install', '--frozen-lockfile'], { env: { CI: 'true' } });
}

function ensureGenerated() {
  const client = join(root, 'packages', 'db', 'src', 'generated', 'client.ts');
  if (mtime(client) >= mtime(join(root, 'prisma', 'schema.prisma'))) return;
  // `prisma generate` needs no schema engine; pointing the variable at any executable stops a download attempt.
  must(bin('prisma'), ['generate'], {
    env: { PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  });
}

const [command = 'start', ...rest] = process.argv.slice(2);
ensureInstalled();
ensureGenerated();

/** Newest modification time under `dir` (files only), 0 when it does not exist. */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, mtime(join(entry.parentPath ?? entry.path, entry.name)));
  }
  return latest;
}

/** The board (apps/web) is served from its build; build it when missing or older than its sources. */
function ensureWebBuilt() {
  const web = join(root, 'apps', 'web');
  const built = mtime(join(web, 'dist', 'index.html'));
  const sources = Math.max(
    newest(join(web, 'src')),
    mtime(join(web, 'index.html')),
    mtime(join(web, 'vite.config.ts')),
  );
  if (built >= sources) return;
  console.error('clawlink: building the board (apps/web)…');
  must(join(web, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'error'], { cwd: web });
}

/** The server bundle (apps/server/dist), rebuilt when a source it was built from changed. */
async function serverEntry() {
  const { buildServer, freshServerEntry } = await import('./build-server.mjs');
  const fresh = freshServerEntry(mtime);
  if (fresh) return fresh;
  console.error('clawlink: building the server (apps/server)…');
  await buildServer();
  return freshServerEntry(mtime);
}

/**
 * Runs a long-lived child, passing signals on and waiting for its own graceful shutdown.
 * Detached, so a terminal's Ctrl-C reaches it once, through us, and never reaches the
 * embedded PostgreSQL it starts: that one must stop last, when the server says so.
 */
function serve(args) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', detached: true });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
switch (command) {
  case 'start':
    ensureWebBuilt();
    serve([await serverEntry(), 'start', ...rest]);
    break;
  case 'clawlink': {
    // In this process: a second Node.js start would add ~80 ms to every short command.
    const entry = await serverEntry();
    process.argv = [process.execPath, entry, ...rest];
    await import(pathToFileURL(entry).href);
    break;
  }
  case 'test':
    ensurePnpm();
    must(bin('biome'), ['check', '.']);
    must(bin('turbo'), ['run', 'typecheck', '--output-logs=errors-only']);
    must(bin('tsc'), ['-p', 'bench/tsconfig.json']);
    // The browser tests (apps/web/src/browser) drive the built board.
    must(bin('turbo'), ['run', 'build', '--output-logs=errors-only']);
    must(bin('vitest'), ['run', ...rest]);
    break;
  case 'bench': {
    ensurePnpm();
    // BENCH_ONLY=throughput,backlog (any of run.ts's scenarios, `runtimes`, `cli`) runs those alone.
    const only = process.env.BENCH_ONLY?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const wants = (name) => !only || only.includes(name);
    if (!only || only.some((name) => name !== 'runtimes' && name !== 'cli'))
      must(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), ...rest]);
    if (wants('runtimes'))
      must(process.execPath, ['--import', 'tsx', join(root, 'bench', 'runtimes.ts'), ...rest]);
    if (!wants('cli')) break;
    // What a person waits for at the terminal: the CLI and a restart, run as the README says.
    ensureWebBuilt();
    await serverEntry();
    process.exit(run(process.execPath, ['--import', 'tsx', join(root, 'bench', 'cli-start.ts'), ...rest]));
    break;
  }
  default:
    console.error(`clawlink: unknown command '${command}' (start, clawlink, test, bench)`);
    process.exit(2);
}
