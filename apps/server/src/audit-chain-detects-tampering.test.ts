import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@ccl/config';
import {
  type AuditSigner,
  CHAINED_AUDIT_REFUSED,
  chainedAudit,
  ensureBuiltins,
  makeAuditSigner,
  makeCtx,
  PERMISSIONS,
  pruneAudit,
  sealAuditChain,
  signAuditHead,
  systemCtx,
  UNSIGNED_GRACE_MS,
  verifyAuditChain,
  withChainReady,
  writeAudit,
} from '@ccl/core';
import { createPrisma, Prisma, type PrismaClient, sqlOf } from '@ccl/db';
import { createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadAuditSigner } from './audit-key.ts';
import { cliEnv, runCli } from './test-support/run-cli.ts';
import { TEST_AUDIT_HMAC_KEY } from './test-support/test-server.ts';

const operator = makeCtx({
  userId: 'system',
  roleName: 'SYSTEM',
  permissions: [...PERMISSIONS],
  via: 'system',
});

describe('the audit hash chain', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  let deps: { prisma: PrismaClient; audit: AuditSigner };

  const write = (action: string, detail: Record<string, unknown> = {}) =>
    prisma.$transaction((tx) =>
      writeAudit(deps, tx, systemCtx(), { action, resourceType: 'test', outcome: 'ALLOWED', detail }),
    );

  /** Tampering as a database superuser would: with triggers off for this transaction. */
  const tamper = (sql: string) =>
    prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET LOCAL session_replication_role = replica');
      await tx.$executeRawUnsafe(sql);
    });

  /** A fresh chain of `n` rows; returns their ids in seq order. */
  async function freshChain(n: number): Promise<bigint[]> {
    await tamper('DELETE FROM audit_events; DELETE FROM audit_retentions');
    await tamper(
      'UPDATE audit_chain_head SET seq = 0, hash = NULL, signed_seq = 0, signed_hash = NULL, mac = NULL',
    );
    for (let i = 0; i < n; i++) await write('test.write', { i, nested: { b: 1, a: [1, 'x'] } });
    const rows = await prisma.auditEvent.findMany({ orderBy: { seq: 'asc' }, select: { id: true } });
    return rows.map((r) => r.id);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 8 });
    await ensureBuiltins(prisma);
    deps = { prisma, audit: makeAuditSigner(TEST_AUDIT_HMAC_KEY) };
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  describe('untouched', () => {
    beforeEach(async () => {
      await freshChain(5);
    });

    it('verifies, and forms one chain from concurrent writers', async () => {
      await Promise.all(Array.from({ length: 40 }, (_, i) => write('test.concurrent', { i })));
      expect(await verifyAuditChain(deps)).toEqual({ ok: true, rows: 45, firstSeq: '1', lastSeq: '45' });
      const seqs = (await prisma.auditEvent.findMany({ orderBy: { id: 'asc' } })).map((r) => Number(r.seq));
      expect(seqs).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    });

    it('refuses UPDATE, DELETE and TRUNCATE at the database, and rows without a hash', async () => {
      await expect(prisma.$executeRawUnsafe(`UPDATE audit_events SET action = 'x'`)).rejects.toThrow(
        /append-only: UPDATE refused/,
      );
      await expect(prisma.$executeRawUnsafe('DELETE FROM audit_events')).rejects.toThrow(
        /DELETE refused outside a retention run/,
      );
      await expect(prisma.$executeRawUnsafe('TRUNCATE audit_events')).rejects.toThrow(/TRUNCATE refused/);
      await expect(
        prisma.$executeRawUnsafe(
          `INSERT INTO audit_events (seq, action, resource_type, outcome) VALUES (99, 'x', 'y', 'ALLOWED')`,
        ),
      ).rejects.toThrow(/must carry its chain hash/);
      await expect(prisma.$executeRawUnsafe('DELETE FROM audit_chain_head')).rejects.toThrow(/refused/);
      expect(await prisma.auditEvent.count()).toBe(5);
    });

    it('does not verify with another key', async () => {
      const report = await verifyAuditChain({
        prisma,
        audit: makeAuditSigner('another-key-another-key-another-key'),
      });
      expect(report).toMatchObject({
        ok: false,
        bad: { seq: '1', reason: expect.stringMatching(/hash does not match/) },
      });
    });
  });

  it.each([
    [
      'an edited action',
      (ids: bigint[]) => `UPDATE audit_events SET action = 'test.other' WHERE id = ${ids[2]}`,
      2,
      /hash does not match/,
    ],
    [
      'an edited detail',
      (ids: bigint[]) => `UPDATE audit_events SET detail = '{"i": 99}' WHERE id = ${ids[2]}`,
      2,
      /hash does not match/,
    ],
    [
      'an edited time',
      (ids: bigint[]) => `UPDATE audit_events SET at = at - interval '1 second' WHERE id = ${ids[1]}`,
      1,
      /hash does not match/,
    ],
    [
      'a deleted row in the middle',
      (ids: bigint[]) => `DELETE FROM audit_events WHERE id = ${ids[2]}`,
      3,
      /seq 3\.\.3 are missing/,
    ],
    [
      'the first row deleted',
      (ids: bigint[]) => `DELETE FROM audit_events WHERE id = ${ids[0]}`,
      1,
      /before seq 2 are missing/,
    ],
    [
      'a row inserted with a copied hash',
      () =>
        `INSERT INTO audit_events (seq, action, resource_type, outcome, hash)
         SELECT 6, 'test.forged', 'test', 'ALLOWED', hash FROM audit_events WHERE seq = 5;
         UPDATE audit_chain_head SET seq = 6, hash = (SELECT hash FROM audit_events WHERE seq = 5)`,
      null,
      /hash does not match/,
    ],
    [
      'a row inserted in the middle, later rows renumbered',
      (ids: bigint[]) =>
        `UPDATE audit_events SET seq = seq + 100 WHERE id >= ${ids[2]};
         UPDATE audit_events SET seq = seq - 99 WHERE seq > 100;
         INSERT INTO audit_events (seq, action, resource_type, outcome, hash) VALUES (3, 'test.forged', 'test', 'ALLOWED', 'x')`,
      null,
      /hash does not match/,
    ],
    [
      'two rows swapped (content)',
      (ids: bigint[]) =>
        `UPDATE audit_events SET seq = -seq WHERE id IN (${ids[1]}, ${ids[2]});
         UPDATE audit_events SET seq = 3 WHERE seq = -2; UPDATE audit_events SET seq = 2 WHERE seq = -3`,
      2,
      /hash does not match/,
    ],
    [
      'two rows swapped (ids)',
      (ids: bigint[]) =>
        `UPDATE audit_events SET id = -id WHERE id IN (${ids[1]}, ${ids[2]});
         UPDATE audit_events SET id = ${ids[2]} WHERE id = -${ids[1]}; UPDATE audit_events SET id = ${ids[1]} WHERE id = -${ids[2]}`,
      1,
      /rows reordered/,
    ],
  ])('finds %s and names the first bad row', async (_what, sql, badIndex, reason) => {
    const ids = await freshChain(5);
    await tamper(sql(ids));
    const report = await verifyAuditChain(deps);
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.bad.reason).toMatch(reason);
    if (badIndex !== null) expect(report.bad.id).toBe(ids[badIndex]?.toString());
  });

  it('finds the newest row deleted, through the chain head', async () => {
    const ids = await freshChain(5);
    await tamper(`DELETE FROM audit_events WHERE id = ${ids[4]}`);
    expect(await verifyAuditChain(deps)).toMatchObject({
      ok: false,
      rows: 4,
      bad: { id: null, seq: '5', reason: expect.stringMatching(/newest rows were deleted/) },
    });
    // Moving the head back to the new last row does not help without the key.
    await tamper(`UPDATE audit_chain_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)`);
    expect(await verifyAuditChain(deps)).toMatchObject({
      ok: false,
      bad: { reason: expect.stringMatching(/head was altered/) },
    });
  });

  it('seals rows written before the chain existed, once, and verifies them', async () => {
    await freshChain(0);
    await tamper(
      `INSERT INTO audit_events (seq, action, resource_type, outcome, detail) VALUES
         (1, 'old.one', 'test', 'ALLOWED', '{"b":2,"a":1}'), (2, 'old.two', 'test', 'DENIED', '{}');
       UPDATE audit_chain_head SET seq = 2`,
    );
    await write('test.after-upgrade');
    expect(await verifyAuditChain(deps)).toMatchObject({ ok: true, rows: 3 });
    // Once sealed, a hash cannot be set again.
    await expect(
      prisma.$executeRawUnsafe(`UPDATE audit_events SET hash = 'x' WHERE seq = 1`),
    ).rejects.toThrow(/UPDATE refused/);
  });

  describe('rows the database links in their own statement (chainedAudit)', () => {
    /** One audit row written the way a run's transitions and submits write theirs. */
    const chained = (i: number, ctx = systemCtx()) =>
      sqlOf(prisma).query(
        Prisma.sql`WITH ${chainedAudit(deps, ctx, Prisma.sql`true`, [
          {
            key: 'x',
            entry: { action: 'test.chained', resourceType: 'test', outcome: 'ALLOWED', detail: { i } },
          },
        ])} SELECT (SELECT seq FROM audit) AS seq`,
      );

    it('forms one chain with rows written the long way, at once; the head is signed a moment later', async () => {
      await freshChain(3);
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? write('test.long', { i }) : chained(i))),
      );
      const seqs = (await prisma.auditEvent.findMany({ orderBy: { id: 'asc' } })).map((r) => Number(r.seq));
      expect(seqs).toEqual(Array.from({ length: 43 }, (_, i) => i + 1));
      // Written by the database, so not signed yet: verified, and said so.
      await chained(40);
      expect(await verifyAuditChain(deps)).toMatchObject({
        ok: true,
        rows: 44,
        // The last one at least; others too when the last of the forty was linked by the database.
        unsigned: { rows: expect.any(Number), since: expect.any(String) },
      });
      await signAuditHead(deps);
      expect(await verifyAuditChain(deps)).toEqual({ ok: true, rows: 44, firstSeq: '1', lastSeq: '44' });
    });

    it.each([
      [
        'an edited detail',
        (seq: number) => `UPDATE audit_events SET detail = '{"i": 99}' WHERE seq = ${seq}`,
      ],
      [
        'a row forged with a link computed without the key',
        (seq: number) =>
          `UPDATE audit_events SET mac = repeat('0', 64),
             hash = encode(sha256(convert_to((SELECT hash FROM audit_events WHERE seq = ${seq - 1}) || ':' || ${seq} || ':' || repeat('0', 64), 'UTF8')), 'hex')
           WHERE seq = ${seq}`,
      ],
      [
        'a deleted MAC (posing as an older row)',
        (seq: number) => `UPDATE audit_events SET mac = NULL WHERE seq = ${seq}`,
      ],
    ])('finds %s', async (_what, sql) => {
      await freshChain(2);
      for (let i = 0; i < 3; i++) await chained(i);
      await signAuditHead(deps);
      await tamper(sql(4));
      expect(await verifyAuditChain(deps)).toMatchObject({
        ok: false,
        bad: { seq: '4', reason: expect.stringMatching(/hash does not match/) },
      });
    });

    it('refuses a row copied to the head with its link recomputed (a replay), and finds one written with the index dropped', async () => {
      await freshChain(2);
      for (let i = 0; i < 3; i++) await chained(i);
      await signAuditHead(deps);
      const replay = `INSERT INTO audit_events (seq, at, action, resource_type, outcome, detail, mac, hash)
        SELECT 6, at, action, resource_type, outcome, detail, mac,
               encode(sha256(convert_to((SELECT hash FROM audit_events WHERE seq = 5) || ':6:' || mac, 'UTF8')), 'hex')
        FROM audit_events WHERE seq = 4;
        UPDATE audit_chain_head SET seq = 6, hash = (SELECT hash FROM audit_events WHERE seq = 6)`;
      // With plain writes (triggers on): the table refuses it.
      await expect(prisma.$executeRawUnsafe(replay.split(';')[0] ?? '')).rejects.toThrow(/unique/i);
      try {
        await tamper(`DROP INDEX audit_events_mac_key; ${replay}`);
        expect(await verifyAuditChain(deps)).toMatchObject({
          ok: false,
          bad: { seq: '6', reason: expect.stringMatching(/repeats the MAC of the row at seq 4/) },
        });
      } finally {
        await tamper('DELETE FROM audit_events WHERE seq = 6');
        await prisma.$executeRawUnsafe(
          'CREATE UNIQUE INDEX IF NOT EXISTS audit_events_mac_key ON audit_events (mac)',
        );
      }
    });

    it('finds the newest signed rows removed and the head moved back with links recomputed without the key', async () => {
      await freshChain(2);
      for (let i = 0; i < 3; i++) await chained(i);
      await signAuditHead(deps);
      await tamper(`DELETE FROM audit_events WHERE seq = 5;
        UPDATE audit_chain_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)`);
      expect(await verifyAuditChain(deps)).toMatchObject({
        ok: false,
        bad: { reason: expect.stringMatching(/head was altered/) },
      });
      // Its signature taken back to the moved head, without the key.
      await tamper('UPDATE audit_chain_head SET signed_seq = 4, signed_hash = hash');
      expect(await verifyAuditChain(deps)).toMatchObject({
        ok: false,
        bad: { reason: expect.stringMatching(/head was altered/) },
      });
    });

    it('finds a signature reset behind the triggers: rows left unsigned past a minute', async () => {
      await freshChain(2);
      await chained(1);
      await signAuditHead(deps);
      await tamper('UPDATE audit_chain_head SET signed_seq = 0, signed_hash = NULL, mac = NULL');
      expect(await verifyAuditChain(deps)).toMatchObject({ ok: true, unsigned: { rows: 3 } });
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        vi.setSystemTime(Date.now() + UNSIGNED_GRACE_MS + 1_000);
        expect(await verifyAuditChain(deps)).toMatchObject({
          ok: false,
          bad: { seq: '1', reason: expect.stringMatching(/not covered by the chain head's signature/) },
        });
      } finally {
        vi.useRealTimers();
      }
      // A server signs what it finds unsigned as it starts.
      await sealAuditChain(deps);
      expect(await verifyAuditChain(deps)).toEqual({ ok: true, rows: 3, firstSeq: '1', lastSeq: '3' });
    });

    it('is refused at the database without its hash: a head reset behind the triggers stops chained writes too', async () => {
      await freshChain(2);
      await tamper('UPDATE audit_chain_head SET hash = NULL');
      await expect(chained(1)).rejects.toThrow(CHAINED_AUDIT_REFUSED);
      await expect(withChainReady(deps, () => chained(1))).rejects.toThrow(/was reset \(tampering\)/);
      expect(await prisma.auditEvent.count()).toBe(2);
    });
  });

  describe('retention', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ccl-audit-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('archives the oldest rows before removing them, and the rest still verifies from the anchor', async () => {
      await freshChain(4);
      await new Promise((r) => setTimeout(r, 5));
      const cutoff = new Date();
      await new Promise((r) => setTimeout(r, 5));
      await write('test.newer');
      await write('test.newer');
      const archivePath = join(dir, 'old.ndjson');
      const result = await pruneAudit(deps, operator, { before: cutoff, archivePath });
      expect(result).toMatchObject({ removed: 4, first_seq: '1', last_seq: '4', archive: archivePath });
      const lines = (await readFile(archivePath, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.seq)).toEqual(['1', '2', '3', '4']);
      expect(lines[3].hash).toBe(result.anchor_hash);
      expect((await stat(archivePath)).mode & 0o777).toBe(0o600);
      expect(await prisma.auditRetention.count()).toBe(1);
      expect(await prisma.auditEvent.findFirst({ where: { action: 'audit.prune' } })).toMatchObject({
        detail: expect.objectContaining({ removed: 4, anchor_hash: result.anchor_hash }),
      });
      expect(await verifyAuditChain(deps)).toMatchObject({ ok: true, rows: 3, firstSeq: '5' });
      await write('test.after-prune');
      expect(await verifyAuditChain(deps)).toMatchObject({ ok: true, rows: 4 });

      // The same file is never overwritten; a second prune with nothing old removes nothing.
      await expect(pruneAudit(deps, operator, { before: cutoff, archivePath })).resolves.toMatchObject({
        removed: 0,
      });
    });

    it('detects a forged retention (rows removed and an anchor recorded outside a prune)', async () => {
      const ids = await freshChain(4);
      await tamper(`
        INSERT INTO audit_retentions (actor_user_id, before, removed, first_seq, last_seq, anchor_hash, archive, archive_sha256)
        SELECT 'mallory', now(), 2, 1, 2, hash, '-', '-' FROM audit_events WHERE seq = 2;
        DELETE FROM audit_events WHERE id IN (${ids[0]}, ${ids[1]})`);
      expect(await verifyAuditChain(deps)).toMatchObject({
        ok: false,
        bad: { reason: expect.stringMatching(/no audit.prune row recording it/) },
      });
    });

    it('refuses to prune a chain that does not verify, removing nothing', async () => {
      const ids = await freshChain(3);
      await tamper(
        `UPDATE audit_events SET at = now() - interval '10 days', action = 'x' WHERE id = ${ids[0]}`,
      );
      await expect(
        pruneAudit(deps, operator, {
          before: new Date(Date.now() - 86_400_000),
          archivePath: join(dir, 'b.ndjson'),
        }),
      ).rejects.toThrow(/does not verify at row .*nothing was removed/);
      expect(await prisma.auditEvent.count({ where: { seq: { lte: 3 } } })).toBe(3);
    });
  });

  it('clawlink audit verify: "N rows verified" and exit 0, or the bad row and exit 1', async () => {
    const ids = await freshChain(3);
    const env = cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
    const ok = await runCli(['audit', 'verify'], env);
    expect(ok.code, ok.text).toBe(0);
    expect(ok.stdout).toMatch(/^3 rows verified \(seq 1\.\.3\)$/m);
    await tamper(`UPDATE audit_events SET resource_id = 'changed' WHERE id = ${ids[1]}`);
    const bad = await runCli(['audit', 'verify'], env);
    expect(bad.code, bad.text).toBe(1);
    expect(bad.stdout).toContain(`audit chain broken at row ${ids[1]} (seq 2): its hash does not match`);
    expect(bad.stdout + bad.stderr).not.toContain(TEST_AUDIT_HMAC_KEY);
  }, 60_000);
});

describe('the audit key', () => {
  it('is required with DATABASE_URL, and the error names the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgresql://x@127.0.0.1/db' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'postgresql://x@127.0.0.1/db' })).toThrow(
      /AUDIT_HMAC_KEY: required when DATABASE_URL/,
    );
    expect(() => loadConfig({ AUDIT_HMAC_KEY: 'short' })).toThrow(/AUDIT_HMAC_KEY: must be at least 32/);
    expect(() => loadConfig({ AUDIT_HMAC_KEY: 'short' })).not.toThrow(/short/);
  });

  it('is generated once into DATA_DIR (mode 0600) on the embedded setup', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ccl-audit-key-'));
    try {
      const config = loadConfig({ DATA_DIR: dir }, dir);
      const first = await loadAuditSigner(config, true);
      const second = await loadAuditSigner(config, true);
      expect(first.mac('x')).toBe(second.mac('x'));
      expect((await stat(join(dir, 'audit-hmac.key'))).mode & 0o777).toBe(0o600);
      expect(JSON.stringify(first)).toBe('{}');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
