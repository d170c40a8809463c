import { ConfigError, loadConfig } from '@ccl/config';
import {
  addUser,
  createApiKey,
  DomainError,
  ensureBuiltins,
  listApiKeys,
  listUsers,
  ROLE_NAMES,
  revokeApiKey,
  setPassword,
} from '@ccl/core';
import { createPrisma, migrateDatabase } from '@ccl/db';
import { Command, Option } from 'commander';
import { operatorCtx, readSecretLine } from './cli-support.ts';
import { runDoctor } from './doctor.ts';
import { createLogger } from './logger.ts';
import { openDatabase } from './runtime.ts';
import { type Role, startServer } from './server.ts';

const program = new Command('clawlink').description(
  'CoderClawLink: a self-hosted execution portal for AI coding agents',
);
const config = () => loadConfig();

program
  .command('start')
  .description('run the server (api and worker in one process by default)')
  .addOption(
    new Option('--role <role>', 'which part to run').choices(['all', 'api', 'worker']).default('all'),
  )
  .action(async (opts: { role: Role }) => {
    const cfg = config();
    const log = createLogger(cfg);
    const server = await startServer(cfg, log, opts.role);
    if (server.url)
      process.stdout.write(`\n  CoderClawLink is ready at ${server.url}  (API docs: ${server.url}/docs)\n\n`);
    let firstSignalAt = 0;
    const shutdown = (signal: string) => {
      // A terminal's Ctrl-C reaches this process both directly and through npm; only a
      // second signal well after the first means "stop waiting".
      if (firstSignalAt) {
        if (Date.now() - firstSignalAt > 2000) {
          log.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        return;
      }
      firstSignalAt = Date.now();
      log.info({ signal }, 'shutting down');
      server.stop().then(
        () => process.exit(0),
        (err) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });

/** Opens the database the server uses (the embedded one too, even while the server runs), runs `fn`, closes it. */
async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const cfg = config();
  const db = await openDatabase(cfg, createLogger({ LOG_LEVEL: 'warn' }));
  try {
    return await fn(db.url);
  } finally {
    await db.stop();
  }
}

async function withPrisma<T>(fn: (prisma: ReturnType<typeof createPrisma>) => Promise<T>): Promise<T> {
  return withDatabase(async (url) => {
    await migrateDatabase(url);
    const prisma = createPrisma(url, { max: 2 });
    try {
      await ensureBuiltins(prisma);
      return await fn(prisma);
    } finally {
      await prisma.$disconnect();
    }
  });
}

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const { applied } = await withDatabase((url) => migrateDatabase(url));
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
  });

const user = program.command('user').description('manage users');
user
  .command('add <id>')
  .description('add a user (or change its role)')
  .requiredOption('--role <role>', `one of ${ROLE_NAMES.join(', ')}`)
  .option('--name <name>', 'display name')
  .action(async (id: string, opts: { role: string; name?: string }) => {
    const created = await withPrisma((prisma) =>
      addUser(prisma, { id, role: opts.role, ...(opts.name ? { name: opts.name } : {}) }),
    );
    process.stdout.write(`user '${created.id}' has role ${created.roleName}\n`);
  });
user
  .command('list')
  .description('list users and their roles')
  .action(async () => {
    const users = await withPrisma(listUsers);
    for (const u of users)
      process.stdout.write(`${u.id.padEnd(24)} ${u.roleName.padEnd(10)} ${u.name ?? ''}\n`);
  });

user
  .command('passwd <id>')
  .description(
    "set a user's password for signing in to the board (read from stdin); signs them out elsewhere",
  )
  .action(async (id: string) => {
    const password = await readSecretLine(`new password for ${id}: `);
    await withPrisma((prisma) => setPassword({ prisma }, { userId: id, password }));
    process.stdout.write(`password of '${id}' set\n`);
  });

const key = program.command('key').description('manage personal API keys (Authorization: Bearer ccl_…)');
key
  .command('create <user>')
  .description('create an API key for a user; the key is printed once')
  .requiredOption('--name <name>', 'what the key is for')
  .option('--permissions <list>', "comma-separated subset of the user's permissions (default: all of them)")
  .option('--expires-in-days <n>', 'days until the key stops working')
  .action(async (userId: string, opts: { name: string; permissions?: string; expiresInDays?: string }) => {
    const days = opts.expiresInDays ? Number(opts.expiresInDays) : undefined;
    if (days !== undefined && !(days > 0)) throw new Error('--expires-in-days must be a positive number');
    const created = await withPrisma((prisma) =>
      createApiKey({ prisma }, operatorCtx(), {
        userId,
        name: opts.name,
        permissions: opts.permissions
          ?.split(',')
          .map((p) => p.trim())
          .filter(Boolean),
        expiresAt: days ? new Date(Date.now() + days * 86_400_000) : undefined,
      }),
    );
    process.stdout.write(`key ${created.id} for '${userId}' (shown once; store it now):\n  ${created.key}\n`);
  });
key
  .command('list [user]')
  .description("list API keys (all users' when no user is given) with their last use")
  .action(async (userId?: string) => {
    const keys = await withPrisma((prisma) => listApiKeys({ prisma }, operatorCtx(), { all: true }));
    for (const k of keys.filter((k) => !userId || k.user_id === userId)) {
      const state = k.revoked_at
        ? 'revoked'
        : k.expires_at && k.expires_at < new Date().toISOString()
          ? 'expired'
          : 'active';
      process.stdout.write(
        `${k.id}  ${k.prefix}…  ${k.user_id.padEnd(16)} ${state.padEnd(8)} last used ${k.last_used_at ?? 'never'}  ${k.name}\n`,
      );
    }
  });
key
  .command('revoke <id>')
  .description('revoke an API key at once')
  .action(async (id: string) => {
    await withPrisma((prisma) => revokeApiKey({ prisma }, operatorCtx(), id));
    process.stdout.write(`key ${id} revoked\n`);
  });

program
  .command('doctor')
  .description('check configuration, database, queue and agent runtimes, and say what is missing')
  .action(async () => {
    const ok = await runDoctor(process.stdout);
    process.exitCode = ok ? 0 : 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DomainError) {
    process.stderr.write(`clawlink: ${err.message}\n`);
  } else {
    process.stderr.write(`clawlink: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
