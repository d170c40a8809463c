// `clawlink`: argument parsing only. Each command loads the modules it needs when it
// runs, so `user list` never loads the HTTP server, the queue or the agent SDKs.
import { Command, Option } from 'commander';
import type { ProjectGithubOptions } from './cli-commands.ts';

const program = new Command('clawlink').description(
  'CoderClawLink: a self-hosted execution portal for AI coding agents',
);
const commands = () => import('./cli-commands.ts');

program
  .command('start')
  .description('run the server (api and worker in one process by default)')
  .addOption(
    new Option('--role <role>', 'which part to run').choices(['all', 'api', 'worker']).default('all'),
  )
  .action(async (opts: { role: 'all' | 'api' | 'worker' }) =>
    (await import('./cli-start.ts')).start(opts.role),
  );

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => (await commands()).migrate());

const user = program.command('user').description('manage users');
user
  .command('add <id>')
  .description('add a user (or change its role)')
  .requiredOption('--role <role>', 'ADMIN, MANAGER, DEVELOPER, VIEWER or a custom role')
  .option('--name <name>', 'display name')
  .action(async (id: string, opts: { role: string; name?: string }) => (await commands()).userAdd(id, opts));
user
  .command('list')
  .description('list users and their roles')
  .action(async () => (await commands()).userList());
user
  .command('passwd <id>')
  .description(
    "set a user's password for signing in to the board (read from stdin); signs them out elsewhere",
  )
  .action(async (id: string) => (await commands()).userPasswd(id));
user
  .command('token <id>')
  .description(
    "replace a user's bearer token (the first administrator's is printed at the first start) and print the new one once; the old one stops working",
  )
  .action(async (id: string) => (await commands()).userToken(id));
user
  .command('github <id> [login]')
  .description(
    "link a user to their GitHub account (its /clawlink comments act as the user); '-' or --clear unlinks it",
  )
  .option('--clear', 'unlink the GitHub account')
  .action(async (id: string, login: string | undefined, opts: { clear?: boolean }) =>
    (await commands()).userGithub(id, login, opts),
  );

user
  .command('budget <id> <usd>')
  .description(
    "set a user's monthly budget in US dollars over their runs in every project (calendar month, UTC); '-' removes it",
  )
  .action(async (id: string, usd: string) => (await commands()).userBudget(id, usd));

const telegram = program.command('telegram').description("link users' Telegram accounts (docs/telegram.md)");
telegram
  .command('link <user>')
  .description(
    'print a single-use code (valid 10 minutes) and the bot link that binds the Telegram account sending it to <user>',
  )
  .action(async (id: string) => (await commands()).telegramLink(id));
telegram
  .command('unlink <user>')
  .description("unlink <user>'s Telegram account")
  .action(async (id: string) => (await commands()).telegramUnlink(id));

const project = program.command('project').description("manage projects' settings");
project
  .command('github <slug> [repo]')
  .description(
    'link a project to a GitHub repository (owner/name), replacing an earlier link, or --unlink it; other settings stay',
  )
  .option('--base <branch>', "branch pull requests go to (default: the repository's default branch)")
  .addOption(
    new Option(
      '--pull-requests <mode>',
      'open a pull request for finished work: at once, after approval, or never',
    ).choices(['auto', 'approve', 'off']),
  )
  .option('--draft', 'open pull requests as drafts')
  .option(
    '--fix-ci [attempts]',
    'start a follow-up run when CI fails on a pull request, at most [attempts] times per pull request',
  )
  .option('--unlink', 'remove the link to GitHub')
  .action(async (slug: string, repo: string | undefined, opts: ProjectGithubOptions) =>
    (await commands()).projectGithub(slug, repo, opts),
  );

const key = program.command('key').description('manage personal API keys (Authorization: Bearer ccl_…)');
key
  .command('create <user>')
  .description('create an API key for a user; the key is printed once')
  .requiredOption('--name <name>', 'what the key is for')
  .option('--permissions <list>', "comma-separated subset of the user's permissions (default: all of them)")
  .option('--expires-in-days <n>', 'days until the key stops working')
  .action(async (userId: string, opts: { name: string; permissions?: string; expiresInDays?: string }) =>
    (await commands()).keyCreate(userId, opts),
  );
key
  .command('list [user]')
  .description("list API keys (all users' when no user is given) with their last use")
  .action(async (userId?: string) => (await commands()).keyList(userId));
key
  .command('revoke <id>')
  .description('revoke an API key at once')
  .action(async (id: string) => (await commands()).keyRevoke(id));

const device = program
  .command('device')
  .description(
    'pair CoderClaw devices (an adapter sending user_id and device_id asks; the approval gives it a secret)',
  );
device
  .command('list')
  .description('list devices and pairing requests')
  .option('--pending', 'only requests waiting for approval')
  .action(async (opts: { pending?: boolean }) => (await commands()).deviceList(opts));
device
  .command('approve <user> <device>')
  .description(
    "approve a device (also before it first connects) and print, once, the base URL with its secret that CoderClaw uses; approving again replaces the secret. CoderClaw's adapter without device_id is 'default'",
  )
  .action(async (userId: string, deviceId: string) => (await commands()).deviceApprove(userId, deviceId));
device
  .command('revoke <user> <device>')
  .description('revoke a device: its secret and its runtime sessions stop working at once')
  .action(async (userId: string, deviceId: string) => (await commands()).deviceRevoke(userId, deviceId));

program
  .command('secrets')
  .description('project secrets')
  .command('rotate')
  .description(
    're-encrypt every project secret under SECRETS_KEY (after moving the old key to SECRETS_OLD_KEYS)',
  )
  .action(async () => (await commands()).secretsRotate());

const audit = program
  .command('audit')
  .description('the audit log: verify its hash chain, archive and prune old rows');
audit
  .command('verify')
  .description('walk the hash chain; report the first bad row (exit 1) or how many rows verified')
  .action(async () => (await commands()).auditVerify());
audit
  .command('prune')
  .description(
    'archive rows older than --before to an NDJSON file, then remove them (audited; the chain stays verifiable)',
  )
  .requiredOption('--before <date>', 'ISO date or date-time; rows older than this go')
  .requiredOption('--archive <file.ndjson>', 'file to write the removed rows to (must not exist)')
  .action(async (opts: { before: string; archive: string }) => (await commands()).auditPrune(opts));

program
  .command('doctor')
  .description('check configuration, database, queue and agent runtimes, and say what is missing')
  .action(async () => {
    const { runDoctor } = await import('./doctor.ts');
    process.exitCode = (await runDoctor(process.stdout)) ? 0 : 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  // Configuration and domain errors are written for people; anything else is shown the same
  // way, without a stack trace.
  process.stderr.write(`clawlink: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
