import { randomBytes } from 'node:crypto';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAuditSigner } from '../audit-chain.ts';
import { makeCtx, systemCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { PERMISSIONS } from '../permissions.ts';
import { ensureBuiltins } from '../users.ts';
import { makeKeyring, open, seal } from './keyring.ts';
import { openProjectSecrets, putProjectSecret, rotateSecrets } from './project-secrets.ts';

const key = () => randomBytes(32);
const audit = makeAuditSigner(key());

describe('project secrets at rest', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  const admin = makeCtx({
    userId: 'system',
    roleName: 'SYSTEM',
    permissions: [...PERMISSIONS],
    via: 'system',
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 4 });
    await ensureBuiltins(prisma);
    await prisma.project.create({ data: { slug: 'p1', name: 'p1' } });
    await prisma.project.create({ data: { slug: 'p2', name: 'p2' } });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('refuses a ciphertext moved to another scope or altered', () => {
    const ring = makeKeyring({ id: 'a', key: key() });
    const sealed = seal(ring, 'project:1:X', 'value');
    expect(open(ring, 'project:1:X', sealed)).toBe('value');
    expect(() => open(ring, 'project:2:X', sealed)).toThrow(/integrity/);
    const altered = { ...sealed, ciphertext: Buffer.from(sealed.ciphertext).fill(1, 0, 1) };
    expect(() => open(ring, 'project:1:X', altered)).toThrow(/integrity/);
    expect(() => open(makeKeyring({ id: 'b', key: key() }), 'project:1:X', sealed)).toThrow(
      /key 'a'.*SECRETS_OLD_KEYS/,
    );
  });

  it('re-encrypts every secret under the new key, which old rows then need no more', async () => {
    const oldKey = { id: 'k1', key: key() };
    const before = { prisma, audit, secrets: makeKeyring(oldKey) } as unknown as CoreDeps;
    await putProjectSecret(before, admin, { slug: 'p1', name: 'GITHUB_TOKEN', value: 'ghp_one' });
    await putProjectSecret(before, admin, { slug: 'p2', name: 'GITHUB_TOKEN', value: 'ghp_two' });
    const row = await prisma.projectSecret.findFirstOrThrow({ where: { project: { slug: 'p1' } } });
    expect(Buffer.from(row.ciphertext).toString('utf8')).not.toContain('ghp_one');

    const next = { id: 'k2', key: key() };
    const during = { prisma, audit, secrets: makeKeyring(next, [oldKey]) } as unknown as CoreDeps;
    expect(await rotateSecrets(during, systemCtx())).toEqual({ rotated: 2, keyId: 'k2' });
    expect(await rotateSecrets(during, systemCtx())).toEqual({ rotated: 0, keyId: 'k2' });
    expect((await prisma.projectSecret.findMany()).map((r) => r.keyId)).toEqual(['k2', 'k2']);

    const after = { prisma, audit, secrets: makeKeyring(next) } as unknown as CoreDeps;
    expect(await openProjectSecrets(after, 'p1')).toEqual({ GITHUB_TOKEN: 'ghp_one' });
    expect(await openProjectSecrets(after, 'p2')).toEqual({ GITHUB_TOKEN: 'ghp_two' });
    const audited = await prisma.auditEvent.findMany({ where: { action: 'secret.rotate' } });
    expect(audited).toHaveLength(2);
    expect(JSON.stringify(audited.map((a) => a.detail))).not.toContain('ghp_');
  });
});
