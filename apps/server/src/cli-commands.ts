// The operator's commands behind `clawlink` (cli.ts parses the arguments and loads this
// module only for a command that needs the database, so `--help` and `start` stay light).
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { loadConfig } from '@ccl/config';
import { githubLoginSchema, type ProjectGithub, projectGithubSchema, userBudgetSchema } from '@ccl/contracts';
import type { AuditSigner } from '@ccl/core';
// Subpaths, not the package's index: the index would pull Prisma's client into this chunk,
// which is loaded before the database starts instead of while it starts.
import { migrateDatabase } from '@ccl/db/migrate';
import { openDatabase } from './database.ts';
import { createLogger } from './log.ts';

type Operations = typeof import('./cli-operations.ts');

// Prisma compiles its query engine (WebAssembly, ~3 MB) in every process. Optimising it in the
// background pays off in a long-running server, but a short command would wait at exit for those
// compile jobs (~300 ms): here the baseline compiler is enough.
setFlagsFromString('--liftoff-only');

const out = (text: string) => process.stdout.write(text);

/** Opens the database the server uses (the embedded one too, even while the server runs), runs `fn`, closes it. */
async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = await openDatabase(loadConfig(), createLogger({ LOG_LEVEL: 'warn' }));
  try {
    return await fn(db.url);
  } finally {
    await db.stop();
  }
}

/** What the operator's commands need: the database and the audit chain's key (they write audit rows). */
interface OperatorDeps {
  prisma: ReturnType<Operations['createPrisma']>;
  audit: AuditSigner;
}

/**
 * Runs `fn` with the domain operations and a Prisma client on the migrated database. The
 * domain and Prisma (the bulk of the CLI's start-up) load while the database starts.
 */
async function withPrisma<T>(fn: (deps: OperatorDeps, ops: Operations) => Promise<T>): Promise<T> {
  const cfg = loadConfig();
  const loading = import('./cli-operations.ts');
  // Settled before withDatabase can throw, so a failed start is not also an unhandled rejection.
  loading.catch(() => undefined);
  return withDatabase(async (url) => {
    const [ops] = await Promise.all([loading, migrateDatabase(url)]);
    const prisma = ops.createPrisma(url, { max: 2 });
    let deps: OperatorDeps | undefined;
    try {
      await ops.ensureBuiltins(prisma);
      deps = { prisma, audit: await ops.loadAuditSigner(cfg, !cfg.DATABASE_URL) };
      return await fn(deps, ops);
    } finally {
      // A command's audit rows the database linked are signed before it exits (audit-head-signer.ts).
      if (deps) await ops.signAuditHead(deps).catch(() => undefined);
      await prisma.$disconnect();
    }
  });
}

export async function migrate(): Promise<void> {
  const { applied } = await withDatabase((url) => migrateDatabase(url));
  out(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
}

export async function userAdd(id: string, opts: { role: string; name?: string }): Promise<void> {
  const created = await withPrisma((deps, ops) =>
    ops.addUser(deps, { id, role: opts.role, ...(opts.name ? { name: opts.name } : {}) }),
  );
  out(`user '${created.id}' has role ${created.roleName}\n`);
}

export async function userList(): Promise<void> {
  const users = await withPrisma(({ prisma }, ops) => ops.listUsers(prisma));
  for (const u of users) out(`${u.id.padEnd(24)} ${u.roleName.padEnd(10)} ${u.name ?? ''}\n`);
}

export async function userPasswd(id: string): Promise<void> {
  const { readSecretLine } = await import('./cli-support.ts');
  const password = await readSecretLine(`new password for ${id}: `);
  await withPrisma((deps, ops) => ops.setPassword(deps, { userId: id, password }));
  out(`password of '${id}' set\n`);
}

export async function userToken(id: string): Promise<void> {
  const token = await withPrisma((deps, ops) => ops.rotateUserToken(deps, ops.operatorCtx(), id));
  out(`new token for '${id}' (shown once; store it now; the previous one no longer works):\n  ${token}\n`);
}

export async function userGithub(id: string, login: string | undefined, opts: { clear?: boolean }) {
  const clear = opts.clear === true || login === '-';
  if (clear && login && login !== '-') throw new Error('give a GitHub login or --clear, not both');
  if (!clear && !login) throw new Error("give the user's GitHub login, or --clear to unlink it");
  let githubLogin: string | null = null;
  if (!clear) {
    const parsed = githubLoginSchema.safeParse(login);
    if (!parsed.success) throw new Error(`GitHub login '${login}' ${parsed.error.issues[0]?.message}`);
    githubLogin = parsed.data;
  }
  const user = await withPrisma((deps, ops) =>
    ops.updateUserAccount(deps, ops.operatorCtx(), id, { github_login: githubLogin }),
  );
  out(
    user.github_login
      ? `user '${id}' is linked to GitHub login '${user.github_login}'\n`
      : `user '${id}' has no GitHub login\n`,
  );
}

/** `user budget <id> <usd|->`: as a PATCH of the user's budget_usd_month would. */
export async function userBudget(id: string, usd: string) {
  let budget: number | null = null;
  if (usd !== '-') {
    const parsed = userBudgetSchema.safeParse(Number(usd));
    if (!parsed.success || usd.trim() === '')
      throw new Error(`budget '${usd}' must be a positive number of US dollars, or '-' to remove it`);
    budget = parsed.data;
  }
  const user = await withPrisma((deps, ops) =>
    ops.updateUserAccount(deps, ops.operatorCtx(), id, { budget_usd_month: budget }),
  );
  out(
    user.budget_usd_month === null
      ? `user '${id}' has no monthly budget\n`
      : `user '${id}' may spend $${user.budget_usd_month} a month\n`,
  );
}

/** `telegram link <user>`: a single-use code (10 minutes) and the bot's deep link, for the user to open. */
export async function telegramLink(id: string): Promise<void> {
  const cfg = loadConfig();
  const { code, expiresAt } = await withPrisma((deps, ops) =>
    ops.createTelegramLinkCode(deps, ops.operatorCtx(), id),
  );
  const username = cfg.TELEGRAM_BOT_TOKEN ? await telegramBotUsername(cfg).catch(() => null) : null;
  out(
    [
      `link code for '${id}' (single use, valid until ${expiresAt.toISOString()}):`,
      `  ${code}`,
      username
        ? `  open https://t.me/${username}?start=${code} on the user's phone, or send the bot: /start ${code}`
        : `  the user sends the bot, in a private chat: /start ${code}`,
      '',
    ].join('\n'),
  );
}

export async function telegramUnlink(id: string): Promise<void> {
  const unlinked = await withPrisma((deps, ops) => ops.unlinkTelegram(deps, ops.operatorCtx(), id));
  out(
    unlinked ? `user '${id}' is no longer linked to Telegram\n` : `user '${id}' was not linked to Telegram\n`,
  );
}

async function telegramBotUsername(cfg: ReturnType<typeof loadConfig>): Promise<string> {
  const { Api } = await import('grammy');
  const api = new Api(cfg.TELEGRAM_BOT_TOKEN as string, { apiRoot: cfg.TELEGRAM_API_ROOT });
  return (await api.getMe()).username;
}

export interface ProjectGithubOptions {
  base?: string;
  pullRequests?: string;
  draft?: boolean;
  /** true without a number of attempts. */
  fixCi?: boolean | string;
  unlink?: boolean;
}

/** Where each setting came from on the command line, for the error message. */
const GITHUB_FLAGS: Record<string, string> = {
  repo: 'owner/name',
  base: '--base',
  pull_requests: '--pull-requests',
  fix_ci_attempts: '--fix-ci',
};

function githubSetting(repo: string | undefined, opts: ProjectGithubOptions): ProjectGithub | null {
  const { unlink, ...rest } = opts;
  if (unlink) {
    if (repo || Object.keys(rest).length) throw new Error('--unlink takes no repository or other options');
    return null;
  }
  if (!repo) throw new Error('give the repository as owner/name, or --unlink');
  const attempts = typeof opts.fixCi === 'string' ? opts.fixCi : undefined;
  if (attempts !== undefined && !/^\d+$/.test(attempts)) {
    throw new Error(`--fix-ci '${attempts}' must be a number of attempts from 1 to 10`);
  }
  const parsed = projectGithubSchema.safeParse({
    repo,
    ...(opts.base !== undefined ? { base: opts.base } : {}),
    ...(opts.pullRequests ? { pull_requests: opts.pullRequests } : {}),
    ...(opts.draft ? { draft: true } : {}),
    ...(opts.fixCi ? { fix_ci: true } : {}),
    ...(attempts ? { fix_ci_attempts: Number(attempts) } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'repo');
    throw new Error(`${GITHUB_FLAGS[field] ?? field}: ${issue?.message}`);
  }
  return parsed.data;
}

/** The link as set: unset fields are left to the GitHub integration's defaults (docs/github.md). */
function describeGithub(g: ProjectGithub): string {
  const parts = [
    ...(g.base ? [`base ${g.base}`] : []),
    ...(g.pull_requests ? [`pull requests ${g.pull_requests}`] : []),
    ...(g.draft ? ['drafts'] : []),
    ...(g.fix_ci ? [`fix CI${g.fix_ci_attempts ? ` (up to ${g.fix_ci_attempts} attempts)` : ''}`] : []),
  ];
  return parts.length ? `${g.repo} (${parts.join(', ')})` : g.repo;
}

export async function projectGithub(slug: string, repo: string | undefined, opts: ProjectGithubOptions) {
  const github = githubSetting(repo, opts);
  const cfg = loadConfig();
  const project = await withPrisma((deps, ops) =>
    ops.setProjectGithub({ ...deps, config: cfg }, ops.operatorCtx(), slug, github),
  );
  const linked = project.settings.github;
  out(
    linked
      ? `project '${project.slug}' is linked to ${describeGithub(linked)}\n`
      : `project '${project.slug}' is not linked to GitHub\n`,
  );
}

export async function keyCreate(
  userId: string,
  opts: { name: string; permissions?: string; expiresInDays?: string },
): Promise<void> {
  const days = opts.expiresInDays ? Number(opts.expiresInDays) : undefined;
  if (days !== undefined && !(days > 0)) throw new Error('--expires-in-days must be a positive number');
  const created = await withPrisma((deps, ops) =>
    ops.createApiKey(deps, ops.operatorCtx(), {
      userId,
      name: opts.name,
      permissions: opts.permissions
        ?.split(',')
        .map((p) => p.trim())
        .filter(Boolean),
      expiresAt: days ? new Date(Date.now() + days * 86_400_000) : undefined,
    }),
  );
  out(`key ${created.id} for '${userId}' (shown once; store it now):\n  ${created.key}\n`);
}

export async function keyList(userId?: string): Promise<void> {
  const keys = await withPrisma((deps, ops) => ops.listApiKeys(deps, ops.operatorCtx(), { all: true }));
  const now = new Date().toISOString();
  for (const k of keys.filter((k) => !userId || k.user_id === userId)) {
    const state = k.revoked_at ? 'revoked' : k.expires_at && k.expires_at < now ? 'expired' : 'active';
    out(
      `${k.id}  ${k.prefix}…  ${k.user_id.padEnd(16)} ${state.padEnd(8)} last used ${k.last_used_at ?? 'never'}  ${k.name}\n`,
    );
  }
}

export async function keyRevoke(id: string): Promise<void> {
  await withPrisma((deps, ops) => ops.revokeApiKey(deps, ops.operatorCtx(), id));
  out(`key ${id} revoked\n`);
}

export async function deviceList(opts: { pending?: boolean }): Promise<void> {
  const devices = await withPrisma((deps, ops) =>
    ops.listDevices(deps, ops.operatorCtx(), { state: opts.pending ? 'pending' : undefined }),
  );
  for (const d of devices) {
    out(
      `${d.user_id.padEnd(16)} ${d.device_id.padEnd(24)} ${d.state.padEnd(8)} requested ${d.requested_at} from ${d.request_ip ?? '?'}  last seen ${d.last_seen_at ?? 'never'}\n`,
    );
  }
}

/** Where this server is reached, as far as its settings tell (behind a proxy, the proxy's address instead). */
function serverUrlHint(cfg: ReturnType<typeof loadConfig>): string {
  const wildcard = cfg.HOST === '0.0.0.0' || cfg.HOST === '::';
  const host = cfg.boundToLoopback ? 'localhost' : wildcard ? '<server-address>' : cfg.HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${cfg.PORT}`;
}

export async function deviceApprove(userId: string, deviceId: string): Promise<void> {
  const { secret } = await withPrisma((deps, ops) =>
    ops.approveDevice(deps, ops.operatorCtx(), { userId, deviceId }),
  );
  out(
    `device '${deviceId}' of user '${userId}' approved. Its secret is shown once; give CoderClaw this base URL (your server's address, then /k/ and the secret):\n  ${serverUrlHint(loadConfig())}/k/${secret}\n`,
  );
}

export async function deviceRevoke(userId: string, deviceId: string): Promise<void> {
  await withPrisma((deps, ops) => ops.revokeDevice(deps, ops.operatorCtx(), { userId, deviceId }));
  out(`device '${deviceId}' of user '${userId}' revoked\n`);
}

export async function secretsRotate(): Promise<void> {
  const cfg = loadConfig();
  const done = await withPrisma(async (deps, ops) => {
    const secrets = await ops.loadSecretsKeyring(cfg, !cfg.DATABASE_URL);
    return ops.rotateSecrets({ ...deps, ...(secrets ? { secrets } : {}) }, ops.operatorCtx());
  });
  out(`${done.rotated} secret(s) re-encrypted under key '${done.keyId}'\n`);
}

export async function auditVerify(): Promise<void> {
  const { report, recorded } = await withPrisma(async (deps, ops) => {
    const result = await ops.verifyAuditChain(deps);
    // Recorded after the (read-only) check. A head reset behind the triggers refuses every audited
    // write, this one too: the report is printed all the same.
    const recording = deps.prisma.$transaction((tx) =>
      ops.writeAudit(deps, tx, ops.operatorCtx(), {
        action: 'audit.verify',
        resourceType: 'audit',
        outcome: result.ok ? 'ALLOWED' : 'FAILED',
        detail: result.ok ? { rows: result.rows } : { rows: result.rows, bad: { ...result.bad } },
      }),
    );
    return {
      report: result,
      recorded: await recording.then(
        () => null,
        (err: Error) => err.message,
      ),
    };
  });
  if (recorded) process.stderr.write(`the verification itself could not be recorded: ${recorded}\n`);
  if (report.ok) {
    const range = report.firstSeq ? ` (seq ${report.firstSeq}..${report.lastSeq})` : '';
    const removed = report.removed
      ? `; seq 1..${report.removed.lastSeq} removed by ${report.removed.runs} retention run(s) (audit prune), the last at ${report.removed.lastRunAt}`
      : '';
    const unsigned = report.unsigned
      ? `; the newest ${report.unsigned.rows} (since ${report.unsigned.since}) are chained but not signed yet (a running server signs them within a second)`
      : '';
    out(`${report.rows} rows verified${range}${removed}${unsigned}\n`);
    if (recorded) process.exitCode = 1;
    return;
  }
  const { id, seq, reason } = report.bad;
  out(
    `audit chain broken at ${id ? `row ${id}` : 'a missing row'} (seq ${seq}): ${reason}\n${report.rows} rows verified before it\n`,
  );
  process.exitCode = 1;
}

export async function auditPrune(opts: { before: string; archive: string }): Promise<void> {
  const before = new Date(opts.before);
  if (Number.isNaN(before.getTime()))
    throw new Error(`--before '${opts.before}' is not a date (e.g. 2025-01-01)`);
  const archivePath = resolve(opts.archive);
  const done = await withPrisma((deps, ops) =>
    ops.pruneAudit(deps, ops.operatorCtx(), { before, archivePath }),
  );
  out(
    done.removed
      ? `${done.removed} rows (seq ${done.first_seq}..${done.last_seq}) archived to ${done.archive} (sha256 ${done.archive_sha256}) and removed; anchor ${done.anchor_hash}\n`
      : `no rows older than ${before.toISOString()}; nothing removed\n`,
  );
}
