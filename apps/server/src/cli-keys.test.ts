import { randomBytes } from 'node:crypto';
import {
  type CoreDeps,
  makeAuditSigner,
  makeCtx,
  makeKeyring,
  PERMISSIONS,
  putProjectSecret,
  verifyPassword,
} from '@ccl/core';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, type TestDatabase, uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli, TEST_AUDIT_HMAC_KEY } from './test-support/run-cli.ts';

describe('clawlink user passwd and key create/list/revoke', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    env = cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', QUEUE_NAME: uniquePrefix('cli-keys') });
    expect((await runCli(['user', 'add', 'dana', '--role', 'DEVELOPER'], env)).code).toBe(0);
  });
  afterAll(async () => {
    await killAllCli();
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('sets a password from stdin, refusing a short one', async () => {
    const short = await runCli(['user', 'passwd', 'dana'], env, 45_000, 'short\n');
    expect(short.code, short.text).toBe(1);
    expect(short.stderr).toMatch(/at least 10 characters/);
    const ok = await runCli(['user', 'passwd', 'dana'], env, 45_000, 'a long enough secret\n');
    expect(ok.code, ok.text).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain('a long enough secret');
    const user = await prisma.user.findUniqueOrThrow({ where: { id: 'dana' } });
    expect(user.passwordHash).toMatch(/^scrypt\$/);
    expect(await verifyPassword('a long enough secret', user.passwordHash ?? '')).toBe(true);
  });

  it('secrets rotate re-encrypts under the new key', async () => {
    const oldKey = randomBytes(32);
    await prisma.project.create({ data: { slug: 'rot', name: 'rot' } });
    const deps = {
      prisma,
      audit: makeAuditSigner(TEST_AUDIT_HMAC_KEY),
      secrets: makeKeyring({ id: 'k1', key: oldKey }),
    } as unknown as CoreDeps;
    const ctx = makeCtx({
      userId: 'system',
      roleName: 'SYSTEM',
      permissions: [...PERMISSIONS],
      via: 'system',
    });
    await putProjectSecret(deps, ctx, { slug: 'rot', name: 'GITHUB_TOKEN', value: 'ghp_rotate_me' });
    const res = await runCli(['secrets', 'rotate'], {
      ...env,
      SECRETS_KEY: randomBytes(32).toString('base64'),
      SECRETS_KEY_ID: 'k2',
      SECRETS_OLD_KEYS: `k1:${oldKey.toString('base64')}`,
    });
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("1 secret(s) re-encrypted under key 'k2'\n");
    expect((await prisma.projectSecret.findFirstOrThrow({ where: { name: 'GITHUB_TOKEN' } })).keyId).toBe(
      'k2',
    );
  });

  it('creates a key printed once, lists it without the secret, and revokes it', async () => {
    const created = await runCli(
      [
        'key',
        'create',
        'dana',
        '--name',
        'ci',
        '--permissions',
        'task:view,task:submit',
        '--expires-in-days',
        '30',
      ],
      env,
    );
    expect(created.code, created.text).toBe(0);
    const key = /\n {2}(ccl_\S+)/.exec(created.stdout)?.[1] ?? '';
    const id = /^key (\S+) for 'dana'/.exec(created.stdout)?.[1] ?? '';
    expect(key).toMatch(/^ccl_/);
    const row = await prisma.apiKey.findUniqueOrThrow({ where: { id } });
    expect(row.permissions).toEqual(['task:view', 'task:submit']);
    expect(row.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    const listed = await runCli(['key', 'list', 'dana'], env);
    expect(listed.stdout).toMatch(new RegExp(`^${id} .*dana .*active .*last used never .*ci$`, 'm'));
    expect(listed.stdout).not.toContain(key);

    const beyond = await runCli(['key', 'create', 'dana', '--name', 'x', '--permissions', 'audit:view'], env);
    expect(beyond.code).toBe(1);
    expect(beyond.stderr).toMatch(/lacks audit:view/);

    expect((await runCli(['key', 'revoke', id], env)).code).toBe(0);
    expect((await runCli(['key', 'list'], env)).stdout).toMatch(new RegExp(`^${id} .*revoked`, 'm'));
    const audit = await prisma.auditEvent.findMany({ where: { resourceId: id }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => a.action)).toEqual(['apikey.create', 'apikey.revoke']);
  });
});
