#!/usr/bin/env node
// Entry point of the root npm scripts. Works on a machine with only Node.js and npm:
// it installs the pinned pnpm and the dependencies when needed, generates the Prisma
// client, then runs the requested command.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, '');
const bin = (name) => join(root, 'node_modules', '.bin', name);

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

function pnpmCommand() {
  const probe = spawnSync('pnpm', ['--version'], { cwd: root, encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === pnpmVersion) return ['pnpm', []];
  // No pnpm (or another version): run the pinned one through npx, which needs only npm.
  return ['npx', ['--yes', `pnpm@${pnpmVersion}`]];
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function ensureInstalled() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (mtime(marker) >= mtime(join(root, 'pnpm-lock.yaml')) && existsSync(bin('tsx'))) return;
  console.error('clawlink: installing dependencies (first run)…');
  const [cmd, pre] = pnpmCommand();
  must(cmd, [...pre, 'install', '--frozen-lockfile'], { env: { CI: 'true' } });
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

const cli = join(root, 'apps', 'server', 'src', 'cli.ts');

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
  must(bin('turbo'), ['run', 'build', '--filter=@ccl/web', '--output-logs=errors-only']);
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
    serve(['--import', 'tsx', cli, 'start', ...rest]);
    break;
  case 'clawlink':
    serve(['--import', 'tsx', cli, ...rest]);
    break;
  case 'test':
    must(bin('biome'), ['check', '.']);
    must(bin('turbo'), ['run', 'typecheck', '--output-logs=errors-only']);
    must(bin('tsc'), ['-p', 'bench/tsconfig.json']);
    // The browser tests (apps/web/src/browser) drive the built board.
    must(bin('turbo'), ['run', 'build', '--output-logs=errors-only']);
    must(bin('vitest'), ['run', ...rest]);
    break;
  case 'bench':
    must(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), ...rest]);
    process.exit(run(process.execPath, ['--import', 'tsx', join(root, 'bench', 'runtimes.ts'), ...rest]));
    break;
  default:
    console.error(`clawlink: unknown command '${command}' (start, clawlink, test, bench)`);
    process.exit(2);
}
