import { createAgentCatalog, describeSandbox } from '@ccl/agents';
import { loadConfig } from '@ccl/config';
import { checkGithubLinks, GithubApps, loadSkills } from '@ccl/core';
import { createPrisma, pingDatabase } from '@ccl/db';
import { createExecutionQueue } from '@ccl/queue';
import { type Database, openDatabase } from './database.ts';
import { checkBudgets } from './doctor-budgets.ts';
import { createLogger } from './log.ts';
import { BUILTIN_SKILLS_DIR } from './runtime.ts';
import { loadSecretsKeyring } from './secrets-key.ts';
import { describeError } from './telegram/service.ts';

/** `warn`: worth a look, not a failure (doctor still exits 0). */
type Line = { ok: boolean; what: string; detail: string; warn?: boolean };
type Report = (ok: boolean, what: string, detail: string, warn?: boolean) => void;

/** `clawlink doctor`: every check in plain words, with what to do when it fails. */
export async function runDoctor(out: NodeJS.WritableStream): Promise<boolean> {
  const lines: Line[] = [];
  const report: Report = (ok, what, detail, warn = false) => lines.push({ ok, what, detail, warn });
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
    report(
      true,
      'config',
      `listening on ${config.HOST}:${config.PORT}, default agent ${config.DEFAULT_AGENT}`,
    );
  } catch (err) {
    report(false, 'config', `${(err as Error).message}; fix the variables named above (see .env.example)`);
    return print(out, lines);
  }

  let dbUrl: string | null = null;
  let stopDb = async () => {};
  let db: Database | undefined;
  try {
    db = await openDatabase(config, createLogger({ LOG_LEVEL: 'warn' }));
    stopDb = db.stop;
    // An external DATABASE_URL is only a string until a connection proves it.
    await pingDatabase(db.url);
    dbUrl = db.url;
    report(
      true,
      'database',
      db.embedded ? `embedded PostgreSQL in ${config.dataDir}` : 'DATABASE_URL reachable',
    );
  } catch (err) {
    report(
      false,
      'database',
      `cannot open: ${(err as Error).message}; check DATABASE_URL or the data directory`,
    );
  }

  if (dbUrl) await checkGithub(config, dbUrl, db?.embedded ?? false, report);
  if (dbUrl) await checkExecutions(config, dbUrl, report);
  if (dbUrl) await checkBudgets(dbUrl, report);

  if (dbUrl) {
    const queue = createExecutionQueue({
      databaseUrl: dbUrl,
      redisUrl: config.REDIS_URL,
      queueName: config.QUEUE_NAME,
      attempts: 1,
    });
    try {
      await queue.ping();
      const counts = await queue.counts();
      report(
        true,
        'queue',
        `${queue.backend === 'redis' ? 'Redis reachable (REDIS_URL)' : 'BullMQ Postgres backend (REDIS_URL unset)'}; ` +
          `jobs: ${counts.waiting} waiting, ${counts.active} active, ${counts.delayed} delayed, ${counts.failed} failed`,
      );
    } catch (err) {
      report(
        false,
        'queue',
        `unreachable: ${(err as Error).message}; check REDIS_URL or unset it to use Postgres`,
      );
    } finally {
      await queue.close().catch(() => undefined);
    }
  }
  await stopDb();

  if (config.TELEGRAM_BOT_TOKEN) await checkTelegram(config, report);

  const catalog = createAgentCatalog(config);
  await catalog.refresh();
  const sandbox = await catalog.sandbox.status();
  // Unavailable fails the check: every agent command would be refused. Off is the admin's choice, shown as such.
  report(sandbox.state !== 'unavailable', 'sandbox', describeSandbox(sandbox));
  for (const agent of catalog.list()) {
    report(
      agent.available,
      `agent ${agent.agentType}`,
      agent.available ? 'available' : (agent.reason ?? 'unavailable'),
    );
  }
  const skills = await loadSkills({ builtinDir: BUILTIN_SKILLS_DIR, customDir: config.SKILLS_DIR });
  report(
    skills.problems.length === 0,
    'skills',
    `${skills.list().length} loaded${skills.problems.length ? `; ${skills.problems.join('; ')}` : ''}`,
  );
  return print(out, lines);
}

/** Each project linked to GitHub: its credential reads the repository and may push. */
async function checkGithub(
  config: ReturnType<typeof loadConfig>,
  dbUrl: string,
  embedded: boolean,
  report: (ok: boolean, what: string, detail: string) => void,
) {
  const prisma = createPrisma(dbUrl, { max: 2 });
  try {
    const secrets = await loadSecretsKeyring(config, embedded);
    const githubApps =
      config.GITHUB_APP_ID && config.GITHUB_APP_PRIVATE_KEY
        ? new GithubApps({
            apiUrl: config.GITHUB_API_URL,
            appId: config.GITHUB_APP_ID,
            privateKey: config.GITHUB_APP_PRIVATE_KEY,
          })
        : undefined;
    const checks = await checkGithubLinks({
      prisma,
      config,
      ...(secrets ? { secrets } : {}),
      ...(githubApps ? { githubApps } : {}),
    });
    for (const c of checks) report(c.ok, `github ${c.project}`, c.detail);
  } catch (err) {
    report(false, 'github', `could not check the linked repositories: ${(err as Error).message}`);
  } finally {
    await prisma.$disconnect();
  }
}

/** How long a running execution may go without any event before doctor calls it stuck. */
const STUCK_AFTER_MS = 10 * 60_000;

/**
 * Executions that look stuck: started but without any event for 10 minutes, waiting for an
 * approval past APPROVAL_TIMEOUT_S, or queued while no worker has beaten for a minute.
 */
async function checkExecutions(
  config: ReturnType<typeof loadConfig>,
  dbUrl: string,
  report: (ok: boolean, what: string, detail: string) => void,
) {
  const prisma = createPrisma(dbUrl, { max: 2 });
  try {
    const now = Date.now();
    const quiet = await prisma.execution.findMany({
      where: { state: { in: ['PLANNING', 'RUNNING'] }, updatedAt: { lt: new Date(now - STUCK_AFTER_MS) } },
      select: { number: true },
      orderBy: { updatedAt: 'asc' },
      take: 10,
    });
    const overdue = await prisma.execution.findMany({
      where: { state: 'WAITING', updatedAt: { lt: new Date(now - config.APPROVAL_TIMEOUT_S * 1000) } },
      select: { number: true },
      take: 10,
    });
    const pending = await prisma.execution.count({ where: { state: 'PENDING' } });
    const workers = await prisma.worker.count({ where: { lastSeenAt: { gt: new Date(now - 60_000) } } });
    const list = (rows: Array<{ number: number }>) => rows.map((r) => `#${r.number}`).join(', ');
    const problems = [
      quiet.length ? `no event for 10 min from ${list(quiet)}` : null,
      overdue.length ? `waiting for an approval past APPROVAL_TIMEOUT_S: ${list(overdue)}` : null,
      pending && !workers
        ? `${pending} queued but no worker has beaten in the last minute (start one: clawlink start --role worker)`
        : null,
    ].filter((p): p is string => p !== null);
    report(
      problems.length === 0,
      'executions',
      problems.length
        ? `${problems.join('; ')}; the reconciler retries lost runs, clawlink audit shows their history`
        : `${pending} queued, ${workers} worker${workers === 1 ? '' : 's'} alive, none stuck`,
    );
  } catch (err) {
    report(false, 'executions', `could not check: ${(err as Error).message}`);
  } finally {
    await prisma.$disconnect();
  }
}

/** The bot token, with getMe: Telegram answers 401 for a wrong one. */
async function checkTelegram(
  config: ReturnType<typeof loadConfig>,
  report: (ok: boolean, what: string, detail: string) => void,
) {
  const { Api } = await import('grammy');
  const api = new Api(config.TELEGRAM_BOT_TOKEN as string, { apiRoot: config.TELEGRAM_API_ROOT });
  try {
    const me = await api.getMe();
    const mode = config.TELEGRAM_WEBHOOK_URL ? `webhook ${config.TELEGRAM_WEBHOOK_URL}` : 'long polling';
    report(true, 'telegram', `bot @${me.username} (${mode})`);
  } catch (err) {
    report(
      false,
      'telegram',
      `getMe failed: ${describeError(err)}; check TELEGRAM_BOT_TOKEN (from @BotFather) and TELEGRAM_API_ROOT`,
    );
  }
}

function print(out: NodeJS.WritableStream, lines: Line[]): boolean {
  for (const l of lines)
    out.write(`${l.ok ? (l.warn ? 'WARN' : ' ok ') : 'FAIL'}  ${l.what.padEnd(18)} ${l.detail}\n`);
  // Unavailable agent runtimes are expected on a fresh machine; only config, database, queue and skills fail the check.
  const essential = lines.filter((l) => !l.what.startsWith('agent '));
  return essential.every((l) => l.ok);
}
