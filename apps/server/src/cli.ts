import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '@ccl/config';
import {
  type AuditSigner,
  addUser,
  approveDevice,
  createApiKey,
  DomainError,
  ensureBuiltins,
  listApiKeys,
  listDevices,
  listUsers,
  pruneAudit,
  ROLE_NAMES,
  revokeApiKey,
  revokeDevice,
  rotateSecrets,
  setPassword,
  verifyAuditChain,
  writeAudit,
} from '@ccl/core';
import { createPrisma, migrateDatabase } from '@ccl/db';
import { Command, Option } from 'commander';
import { loadAuditSigner } from './audit-key.ts';
import { operatorCtx, readSecretLine } from './cli-support.ts';
import { runDoctor } from './doctor.ts';
import { createLogger } from './logger.ts';
import { openDatabase } from './runtime.ts';
import { loadSecretsKeyring } from './secrets-key.ts';
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

/** What the operator's commands need: the database and the audit chain's key (they write audit rows). */
interface OperatorDeps {
  prisma: ReturnType<typeof createPrisma>;
  audit: AuditSigner;
}

async function withPrisma<T>(fn: (deps: OperatorDeps) => Promise<T>): Promise<T> {
  const cfg = config();
  return withDatabase(async (url) => {
    await migrateDatabase(url);
    const prisma = createPrisma(url, { max: 2 });
    try {
      await ensureBuiltins(prisma);
      return await fn({ prisma, audit: await loadAuditSigner(cfg, !cfg.DATABASE_URL) });
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
    const created = await withPrisma((deps) =>
      addUser(deps, { id, role: opts.role, ...(opts.name ? { name: opts.name } : {}) }),
    );
    process.stdout.write(`user '${created.id}' has role ${created.roleName}\n`);
  });
user
  .command('list')
  .description('list users and their roles')
  .action(async () => {
    const users = await withPrisma(({ prisma }) => listUsers(prisma));
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
    await withPrisma((deps) => setPassword(deps, { userId: id, password }));
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
    const created = await withPrisma((deps) =>
      createApiKey(deps, operatorCtx(), {
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
    const keys = await withPrisma((deps) => listApiKeys(deps, operatorCtx(), { all: true }));
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
    await withPrisma((deps) => revokeApiKey(deps, operatorCtx(), id));
    process.stdout.write(`key ${id} revoked\n`);
  });

const device = program
  .command('device')
  .description('pair CoderClaw devices (an adapter sending user_id and device_id)');
device
  .command('list')
  .description('list devices and pairing requests')
  .option('--pending', 'only requests waiting for approval')
  .action(async (opts: { pending?: boolean }) => {
    const devices = await withPrisma((deps) =>
      listDevices(deps, operatorCtx(), { state: opts.pending ? 'pending' : undefined }),
    );
    for (const d of devices) {
      process.stdout.write(
        `${d.user_id.padEnd(16)} ${d.device_id.padEnd(24)} ${d.state.padEnd(8)} requested ${d.requested_at} from ${d.request_ip ?? '?'}  last seen ${d.last_seen_at ?? 'never'}\n`,
      );
    }
  });
device
  .command('approve <user> <device>')
  .description(
    "approve a device (also before it first connects); CoderClaw's adapter without device_id is 'default'",
  )
  .action(async (userId: string, deviceId: string) => {
    await withPrisma((deps) => approveDevice(deps, operatorCtx(), { userId, deviceId }));
    process.stdout.write(`device '${deviceId}' of user '${userId}' approved\n`);
  });
device
  .command('revoke <user> <device>')
  .description('revoke a device and end its runtime sessions')
  .action(async (userId: string, deviceId: string) => {
    await withPrisma((deps) => revokeDevice(deps, operatorCtx(), { userId, deviceId }));
    process.stdout.write(`device '${deviceId}' of user '${userId}' revoked\n`);
  });

program
  .command('secrets')
  .description('project secrets')
  .command('rotate')
  .description(
    're-encrypt every project secret under SECRETS_KEY (after moving the old key to SECRETS_OLD_KEYS)',
  )
  .action(async () => {
    const cfg = config();
    const secrets = await loadSecretsKeyring(cfg, !cfg.DATABASE_URL);
    const done = await withPrisma((deps) =>
      rotateSecrets({ ...deps, ...(secrets ? { secrets } : {}) }, operatorCtx()),
    );
    process.stdout.write(`${done.rotated} secret(s) re-encrypted under key '${done.keyId}'\n`);
  });

const audit = program
  .command('audit')
  .description('the audit log: verify its hash chain, archive and prune old rows');
audit
  .command('verify')
  .description('walk the hash chain; report the first bad row (exit 1) or how many rows verified')
  .action(async () => {
    const report = await withPrisma(async (deps) => {
      const result = await verifyAuditChain(deps);
      await deps.prisma.$transaction((tx) =>
        writeAudit(deps, tx, operatorCtx(), {
          action: 'audit.verify',
          resourceType: 'audit',
          outcome: result.ok ? 'ALLOWED' : 'FAILED',
          detail: result.ok ? { rows: result.rows } : { rows: result.rows, bad: { ...result.bad } },
        }),
      );
      return result;
    });
    if (report.ok) {
      const range = report.firstSeq ? ` (seq ${report.firstSeq}..${report.lastSeq})` : '';
      process.stdout.write(`${report.rows} rows verified${range}\n`);
      return;
    }
    const { id, seq, reason } = report.bad;
    process.stdout.write(
      `audit chain broken at ${id ? `row ${id}` : 'a missing row'} (seq ${seq}): ${reason}\n${report.rows} rows verified before it\n`,
    );
    process.exitCode = 1;
  });
audit
  .command('prune')
  .description(
    'archive rows older than --before to an NDJSON file, then remove them (audited; the chain stays verifiable)',
  )
  .requiredOption('--before <date>', 'ISO date or date-time; rows older than this go')
  .requiredOption('--archive <file.ndjson>', 'file to write the removed rows to (must not exist)')
  .action(async (opts: { before: string; archive: string }) => {
    const before = new Date(opts.before);
    if (Number.isNaN(before.getTime()))
      throw new Error(`--before '${opts.before}' is not a date (e.g. 2025-01-01)`);
    const archivePath = resolve(opts.archive);
    const done = await withPrisma((deps) => pruneAudit(deps, operatorCtx(), { before, archivePath }));
    process.stdout.write(
      done.removed
        ? `${done.removed} rows (seq ${done.first_seq}..${done.last_seq}) archived to ${done.archive} (sha256 ${done.archive_sha256}) and removed; anchor ${done.anchor_hash}\n`
        : `no rows older than ${before.toISOString()}; nothing removed\n`,
    );
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
