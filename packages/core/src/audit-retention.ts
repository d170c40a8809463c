import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditPruneResult } from '@ccl/contracts';
import { toAuditDto, writeAudit } from './audit.ts';
import { checkpointMac } from './audit-chain.ts';
import { AUDIT_COLUMNS, type AuditRow } from './audit-query.ts';
import { verifyAuditChain } from './audit-verify.ts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Conflict, Invalid } from './errors.ts';

type PruneDeps = Pick<CoreDeps, 'prisma' | 'audit'>;

const BATCH = 1000;

/** Writes rows first..last (seq order) as NDJSON; the file must not exist yet. Returns its SHA-256. */
async function archiveRows(deps: PruneDeps, path: string, first: bigint, last: bigint) {
  await mkdir(dirname(path), { recursive: true });
  const file = await open(path, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new Conflict(`archive file ${path} already exists; name a new one`);
    throw err;
  });
  const sha = createHash('sha256');
  let count = 0;
  try {
    let after = first - 1n;
    for (;;) {
      const rows = await deps.prisma.$queryRaw<AuditRow[]>`
        SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > ${after} AND seq <= ${last} ORDER BY seq LIMIT ${BATCH}`;
      if (rows.length === 0) break;
      // With the content MAC where the row has one: the archive holds all the chain needs.
      const text = rows
        .map((r) => `${JSON.stringify({ ...toAuditDto(r), ...(r.mac ? { mac: r.mac } : {}) })}\n`)
        .join('');
      sha.update(text);
      await file.write(text);
      count += rows.length;
      after = rows.at(-1)?.seq ?? last;
    }
    // On disk before a single row is removed.
    await file.sync();
  } finally {
    await file.close();
  }
  return { count, sha256: sha.digest('hex') };
}

/** The prefix of the chain older than `before`: a row at or after the cutoff keeps every row after it. */
async function prunablePrefix(
  deps: PruneDeps,
  before: Date,
): Promise<{ first: bigint; last: bigint } | null> {
  const bounds = await deps.prisma.$queryRaw<
    Array<{ first: bigint | null; keep: bigint | null; last: bigint | null }>
  >`
    SELECT min(seq) AS first, max(seq) AS last,
           (SELECT min(seq) FROM audit_events WHERE at >= ${before.toISOString()}::timestamptz AT TIME ZONE 'UTC') AS keep
    FROM audit_events`;
  const { first, keep, last } = bounds[0] ?? { first: null, keep: null, last: null };
  const lastSeq = keep !== null ? keep - 1n : last;
  return first === null || lastSeq === null || lastSeq < first ? null : { first, last: lastSeq };
}

/**
 * Records the signed checkpoint, then removes the archived rows, in one transaction; refuses if
 * they changed meanwhile. The database lets a row go only under a signed checkpoint that covers it
 * (see the audit_checkpoints migration), so the checkpoint comes first.
 */
async function removePrefix(
  deps: PruneDeps,
  ctx: RequestCtx,
  input: { before: Date; archivePath: string },
  range: { first: bigint; last: bigint },
  archived: { count: number; sha256: string },
): Promise<AuditPruneResult> {
  return deps.prisma.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT set_config('ccl.audit_retention', 'on', true)`;
      const anchor = await tx.auditEvent.findUniqueOrThrow({
        where: { seq: range.last },
        select: { hash: true },
      });
      const anchorHash = anchor.hash ?? '';
      const checkpoint = {
        at: new Date(),
        actorUserId: ctx.actor.userId,
        before: input.before,
        removed: archived.count,
        firstSeq: range.first,
        lastSeq: range.last,
        anchorHash,
        archive: input.archivePath,
        archiveSha256: archived.sha256,
      };
      const retention = await tx.auditRetention.create({
        data: { ...checkpoint, mac: checkpointMac(deps.audit, checkpoint) },
      });
      const removed =
        await tx.$executeRaw`DELETE FROM audit_events WHERE seq >= ${range.first} AND seq <= ${range.last}`;
      if (removed !== archived.count) {
        throw new Conflict(
          `the rows changed while archiving (${archived.count} archived, ${removed} found); nothing was removed`,
        );
      }
      const result: AuditPruneResult = {
        removed,
        first_seq: range.first.toString(),
        last_seq: range.last.toString(),
        anchor_hash: anchorHash,
        archive: input.archivePath,
        archive_sha256: archived.sha256,
      };
      await writeAudit(deps, tx, ctx, {
        action: 'audit.prune',
        resourceType: 'audit',
        outcome: 'ALLOWED',
        detail: { before: input.before.toISOString(), retention_id: retention.id.toString(), ...result },
      });
      return result;
    },
    { timeout: 120_000 },
  );
}

/**
 * Retention: archives the oldest audit rows (those before `before`, as a prefix of the chain) to
 * an NDJSON file, then, in one transaction that sets `ccl.audit_retention`, records a checkpoint
 * signed with the audit key (the anchor: the last removed row's hash) in audit_retentions, removes
 * the rows (the append-only trigger lets only rows under a signed checkpoint go) and writes an
 * audit.prune row naming it. `audit verify` starts from that anchor and reports the removed range.
 * Refuses when the chain does not verify: a broken chain's evidence must not be removed.
 */
export async function pruneAudit(
  deps: PruneDeps,
  ctx: RequestCtx,
  input: { before: Date; archivePath: string },
): Promise<AuditPruneResult> {
  await authorize(deps, ctx, 'audit:manage', { resourceType: 'audit' });
  if (Number.isNaN(input.before.getTime())) throw new Invalid('before must be a date');
  if (input.before.getTime() > Date.now()) throw new Invalid('before must not be in the future');
  const range = await prunablePrefix(deps, input.before);
  if (!range) {
    await deps.prisma.$transaction((tx) =>
      writeAudit(deps, tx, ctx, {
        action: 'audit.prune',
        resourceType: 'audit',
        outcome: 'ALLOWED',
        detail: { before: input.before.toISOString(), removed: 0 },
      }),
    );
    return {
      removed: 0,
      first_seq: null,
      last_seq: null,
      anchor_hash: null,
      archive: null,
      archive_sha256: null,
    };
  }
  const report = await verifyAuditChain(deps);
  if (!report.ok) {
    const { id, seq, reason } = report.bad;
    throw new Conflict(
      `the audit chain does not verify at row ${id ?? '-'} (seq ${seq}): ${reason}; nothing was removed`,
    );
  }
  const archived = await archiveRows(deps, input.archivePath, range.first, range.last);
  return removePrefix(deps, ctx, input, range, archived);
}
