import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditSigner,
  ensureBuiltins,
  makeAuditSigner,
  makeCtx,
  PERMISSIONS,
  pruneAudit,
  systemCtx,
  verifyAuditChain,
  writeAudit,
} from '@ccl/core';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './test-support/run-cli.ts';
import { TEST_AUDIT_HMAC_KEY } from './test-support/test-server.ts';

const operator = makeCtx({
  userId: 'system',
  roleName: 'SYSTEM',
  permissions: [...PERMISSIONS],
  via: 'system',
});

/**
 * Issue 17, item 11: with plain writes (no superuser, no key) the audit chain could be reset —
 * prune everything under the retention flag anyone may set, reset audit_chain_head, and
 * `clawlink audit verify` said "0 rows verified", exit 0. A NULL head hash made verify rewrite
 * the head and fail without naming a row, after which every audited write failed.
 */
describe('the audit chain against plain writes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  let deps: { prisma: PrismaClient; audit: AuditSigner };
  let dir: string;

  const write = (action: string) =>
    prisma.$transaction((tx) =>
      writeAudit(deps, tx, systemCtx(), { action, resourceType: 'test', outcome: 'ALLOWED' }),
    );

  /** Plain SQL in one transaction, as any role with write access to the tables could run it. */
  const plain = (...statements: string[]) =>
    prisma.$transaction(async (tx) => {
      for (const sql of statements) await tx.$executeRawUnsafe(sql);
    });

  /** As a database superuser would: with triggers off for this transaction. */
  const tamper = (sql: string) =>
    prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET LOCAL session_replication_role = replica');
      await tx.$executeRawUnsafe(sql);
    });

  async function freshChain(n: number) {
    await tamper('DELETE FROM audit_events; DELETE FROM audit_retentions');
    await tamper(
      'UPDATE audit_chain_head SET seq = 0, hash = NULL, signed_seq = 0, signed_hash = NULL, mac = NULL',
    );
    for (let i = 0; i < n; i++) await write('test.write');
    return prisma.auditEvent.findMany({ orderBy: { seq: 'asc' }, select: { id: true, seq: true } });
  }

  const chainState = async () => ({
    head: await prisma.$queryRawUnsafe('SELECT seq, hash, mac FROM audit_chain_head'),
    rows: await prisma.$queryRawUnsafe('SELECT id, seq, hash FROM audit_events ORDER BY seq'),
  });

  const cli = () => runCli(['audit', 'verify'], cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' }));

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 4 });
    await ensureBuiltins(prisma);
    deps = { prisma, audit: makeAuditSigner(TEST_AUDIT_HMAC_KEY) };
    dir = await mkdtemp(join(tmpdir(), 'ccl-audit-reset-'));
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('prune everything and reset audit_chain_head with plain writes: refused, and verify never says "0 rows verified"', async () => {
    await freshChain(3);
    // The retention flag is a setting any session may set: alone it must not let rows go.
    await expect(plain(`SET LOCAL ccl.audit_retention = 'on'`, 'DELETE FROM audit_events')).rejects.toThrow(
      /DELETE refused/,
    );
    // The head is protected like the rows: it never moves back, and never loses its hash or MAC.
    await expect(plain('UPDATE audit_chain_head SET seq = 0, hash = NULL, mac = NULL')).rejects.toThrow(
      /audit_chain_head.*refused/,
    );
    await expect(plain('UPDATE audit_chain_head SET hash = NULL')).rejects.toThrow(/refused/);
    await expect(plain('INSERT INTO audit_chain_head (id, seq) VALUES (2, 0)')).rejects.toThrow(/refused/);
    // A retention record without the key's signature cannot be written…
    await expect(
      plain(
        `INSERT INTO audit_retentions (actor_user_id, before, removed, first_seq, last_seq, anchor_hash, archive, archive_sha256)
         SELECT 'mallory', now(), count(*), min(seq), max(seq), 'x', '-', '-' FROM audit_events`,
      ),
    ).rejects.toThrow(/signed/);
    // …and a forged signature lets the rows go, but the truncation is plain to see.
    await plain(
      `SET LOCAL ccl.audit_retention = 'on'`,
      `INSERT INTO audit_retentions (actor_user_id, before, removed, first_seq, last_seq, anchor_hash, archive, archive_sha256, mac)
       SELECT 'mallory', now(), count(*), min(seq), max(seq), 'x', '-', '-', 'forged' FROM audit_events`,
      'DELETE FROM audit_events',
    );
    expect(await prisma.auditEvent.count()).toBe(0);
    expect(await verifyAuditChain(deps)).toMatchObject({
      ok: false,
      bad: { reason: expect.stringMatching(/retention record .* not signed with the audit key/) },
    });
    const run = await cli();
    expect(run.code, run.text).toBe(1);
    expect(run.stdout).not.toMatch(/^\d+ rows verified(?: \(|$)/m);
    expect(run.stdout).toMatch(/audit chain broken .*not signed with the audit key/);
  }, 60_000);

  it('a NULL head hash with rows present is tampering: verify says so read-only, naming the newest row, and writes refuse with the reason', async () => {
    const rows = await freshChain(3);
    const newest = rows.at(-1);
    // Only a superuser gets this far (the trigger refuses it to plain writes, see above).
    await tamper('UPDATE audit_chain_head SET hash = NULL');
    const before = await chainState();
    const report = await verifyAuditChain(deps);
    expect(report).toMatchObject({
      ok: false,
      bad: {
        id: newest?.id.toString(),
        seq: '3',
        reason: expect.stringMatching(/chain head has no hash .*tamper/),
      },
    });
    // Verify changed nothing: no head rewritten, no row sealed.
    expect(await chainState()).toEqual(before);
    // An audited write refuses to continue a chain it cannot link to, and says why.
    await expect(write('test.after-tamper')).rejects.toThrow(/audit chain head has no hash .*audit verify/);
    expect(await chainState()).toEqual(before);
    const run = await cli();
    expect(run.code, run.text).toBe(1);
    expect(run.stdout).toContain(
      `audit chain broken at row ${newest?.id} (seq 3): the chain head has no hash`,
    );
    expect(await chainState()).toEqual(before);
  }, 60_000);

  it('verify is read-only: rows from before the chain are reported as unsealed, not sealed by it', async () => {
    await freshChain(0);
    await tamper(
      `INSERT INTO audit_events (seq, action, resource_type, outcome) VALUES (1, 'old.one', 'test', 'ALLOWED');
       UPDATE audit_chain_head SET seq = 1`,
    );
    const before = await chainState();
    expect(await verifyAuditChain(deps)).toMatchObject({
      ok: false,
      bad: { reason: expect.stringMatching(/not sealed yet/) },
    });
    expect(await chainState()).toEqual(before);
    // The next audited write (the server does one at boot) seals them.
    await write('test.after-upgrade');
    expect(await verifyAuditChain(deps)).toMatchObject({ ok: true, rows: 2 });
  });

  it('pruning leaves a signed checkpoint: verify names the removed range, and an altered checkpoint is found', async () => {
    await freshChain(4);
    await new Promise((r) => setTimeout(r, 5));
    const cutoff = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await write('test.newer');
    const pruned = await pruneAudit(deps, operator, { before: cutoff, archivePath: join(dir, 'a.ndjson') });
    expect(pruned).toMatchObject({ removed: 4, first_seq: '1', last_seq: '4' });
    const report = await verifyAuditChain(deps);
    expect(report).toMatchObject({ ok: true, rows: 2, firstSeq: '5', removed: { lastSeq: '4', runs: 1 } });
    const run = await cli();
    expect(run.code, run.text).toBe(0);
    expect(run.stdout).toMatch(/^2 rows verified \(seq 5\.\.6\); seq 1\.\.4 removed by 1 retention run/m);
    await tamper(`UPDATE audit_retentions SET removed = 3`);
    expect(await verifyAuditChain(deps)).toMatchObject({
      ok: false,
      bad: { reason: expect.stringMatching(/retention record .* not signed with the audit key/) },
    });
  }, 60_000);
});
