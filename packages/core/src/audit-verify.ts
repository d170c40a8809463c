import {
  type AuditSigner,
  type ChainHead,
  type Checkpoint,
  checkpointMac,
  contentMacMatches,
  GENESIS_HASH,
  headMac,
  linkHash,
  readChainHead,
  rowHash,
} from './audit-chain.ts';
import { AUDIT_COLUMNS, type AuditRow } from './audit-query.ts';
import type { CoreDeps } from './deps.ts';

export interface ChainBreak {
  /** The first row that does not verify; null when the problem is a missing row with no successor. */
  id: string | null;
  seq: string;
  reason: string;
}

/** Rows a retention run (audit prune) removed before the first remaining row. */
export interface Removed {
  /** The last removed seq: rows 1..lastSeq are gone, archived by the runs. */
  lastSeq: string;
  runs: number;
  lastRunAt: string;
}

/**
 * The newest rows, written within UNSIGNED_GRACE_MS, that the chain head's signature does not
 * cover yet (audit-head-signer.ts signs them within a moment): chained and each with its own MAC,
 * but their removal along with a head moved back would not show.
 */
export interface Unsigned {
  rows: number;
  since: string;
}

/** How long the newest rows may go unsigned before verify takes it for a reset signature. */
export const UNSIGNED_GRACE_MS = 60_000;

export type ChainReport =
  | {
      ok: true;
      rows: number;
      firstSeq: string | null;
      lastSeq: string | null;
      removed?: Removed;
      unsigned?: Unsigned;
    }
  | { ok: false; rows: number; bad: ChainBreak };

interface Retention extends Checkpoint {
  id: bigint;
  mac: string | null;
}

const BATCH = 1000;

/** Where the chain of the remaining rows starts: the genesis, or the anchor a retention run left. */
function startOf(retentions: Retention[], firstSeq: bigint) {
  if (firstSeq === 1n) return { prev: GENESIS_HASH, retention: null };
  const retention = retentions.find((r) => r.lastSeq === firstSeq - 1n);
  return retention ? { prev: retention.anchorHash, retention } : null;
}

/**
 * The first checkpoint whose MAC does not match: written or changed without the key. Records from
 * before checkpoints were signed have none; the audit.prune row must still record them (below).
 */
function forgedCheckpoint(audit: AuditSigner, retentions: Retention[]): Retention | undefined {
  return retentions.find((r) => r.mac !== null && r.mac !== checkpointMac(audit, r));
}

/** Did this row record the retention run whose anchor the chain starts from? */
function recordsRetention(row: AuditRow, r: Retention): boolean {
  const d = (row.detail ?? {}) as Record<string, unknown>;
  return (
    row.action === 'audit.prune' &&
    d.retention_id === r.id.toString() &&
    d.last_seq === r.lastSeq.toString() &&
    d.anchor_hash === r.anchorHash
  );
}

/** The link a row must continue: the previous row's seq, id and hash. */
interface Link {
  seq: bigint;
  id: bigint;
  hash: string;
}

/**
 * Does the row's hash prove its content and its place? Rows with a content MAC: the MAC matches
 * the content and the hash links it to the previous hash at its seq (linkHash). Older rows: the
 * hash is the HMAC of both.
 */
function rowProven(audit: AuditSigner, row: AuditRow, prevHash: string): boolean {
  if (row.mac === null) return row.hash === rowHash(audit, row, prevHash);
  return contentMacMatches(audit, row, row.mac) && row.hash === linkHash(prevHash, row.seq, row.mac);
}

/** Why `row` does not continue the chain after `at`; null when it does. */
function linkProblem(audit: AuditSigner, row: AuditRow, at: Link): string | null {
  if (row.seq === at.seq) return `a second row with seq ${row.seq} (inserted)`;
  if (row.seq !== at.seq + 1n) return `rows with seq ${at.seq + 1n}..${row.seq - 1n} are missing (deleted)`;
  if (row.id <= at.id) return `its id is lower than the previous row's ${at.id} (rows reordered)`;
  if (row.hash === null) return 'it has no hash: it was written past the chain (inserted)';
  if (!rowProven(audit, row, at.hash)) {
    return "its hash does not match its content and the previous row's hash (edited, inserted or reordered)";
  }
  return null;
}

type Walk =
  | { ok: true; link: Link; rows: number; sawRetention: boolean; signedAt: Date | null }
  | { ok: false; rows: number; bad: ChainBreak };

/** The link the head's MAC signs (its seq and hash), checked against the row at that seq on the way. */
interface SignedLink {
  seq: bigint;
  hash: string | null;
}

/** Checks every row after `start` up to `toSeq`, in seq order, a batch at a time. */
async function walk(
  deps: VerifyDeps,
  start: Link,
  toSeq: bigint,
  retention: Retention | null,
  signed: SignedLink,
): Promise<Walk> {
  let link = start;
  let rows = 0;
  let sawRetention = false;
  /** When the first row past the signed link was written (null: none, or none seen). */
  let signedAt: Date | null = null;
  for (;;) {
    const batch = await deps.prisma.$queryRaw<AuditRow[]>`
      SELECT ${AUDIT_COLUMNS} FROM audit_events
      WHERE (seq, id) > (${link.seq}, ${link.id}) AND seq <= ${toSeq} ORDER BY seq, id LIMIT ${BATCH}`;
    for (const row of batch) {
      const problem = linkProblem(deps.audit, row, link);
      if (problem)
        return { ok: false, rows, bad: { id: row.id.toString(), seq: row.seq.toString(), reason: problem } };
      if (row.seq === signed.seq && row.hash !== signed.hash) {
        const reason =
          "the chain head's signed link does not match this row (the row or the head was altered)";
        return { ok: false, rows, bad: { id: row.id.toString(), seq: row.seq.toString(), reason } };
      }
      if (row.seq === signed.seq + 1n) signedAt = row.at;
      if (retention && recordsRetention(row, retention)) sawRetention = true;
      link = { seq: row.seq, id: row.id, hash: row.hash ?? '' };
      rows++;
    }
    if (batch.length < BATCH) return { ok: true, link, rows, sawRetention, signedAt };
  }
}

type VerifyDeps = Pick<CoreDeps, 'prisma'> & { audit: AuditSigner };

const broken = (rows: number, id: string | null, seq: bigint, reason: string): ChainReport => ({
  ok: false,
  rows,
  bad: { id, seq: seq.toString(), reason },
});

/**
 * A head without a hash: a chain that never started (fine while there are no rows), rows from
 * before the chain existed that nothing has sealed yet, or a head reset behind the triggers' back.
 */
async function headWithoutHash(deps: VerifyDeps, head: ChainHead, retentions: Retention[]) {
  const newest = await deps.prisma.auditEvent.findFirst({
    where: { hash: { not: null } },
    orderBy: { seq: 'desc' },
    select: { id: true, seq: true },
  });
  if (newest) {
    const reason = `the chain head has no hash while rows up to seq ${newest.seq} exist: it was reset behind the database's triggers (tampering)`;
    return broken(0, newest.id.toString(), newest.seq, reason);
  }
  if (retentions.length) {
    const reason = `the chain head has no hash although ${retentions.length} retention run(s) removed rows: it was reset (tampering)`;
    return broken(0, null, head.seq, reason);
  }
  const unsealed = await deps.prisma.auditEvent.count();
  if (unsealed === 0) return { ok: true, rows: 0, firstSeq: null, lastSeq: null } as const;
  const reason = `${unsealed} rows were written before the hash chain existed and are not sealed yet; the server seals them when it starts (and so does the next audited write): verify again after that`;
  return broken(0, null, head.seq, reason);
}

/**
 * Walks the chain in seq order and reports the first row that breaks it: a changed row (its hash no
 * longer matches), a missing one (a gap in seq, or the head pointing past the last row), an inserted
 * one (it cannot carry a valid hash) or a reordered one (ids out of seq order, or hashes that link to
 * the wrong predecessor); also a head that was reset and a retention checkpoint written without the
 * key. Read-only: it never seals, moves or repairs anything. Rows appended while it runs are left
 * for the next run.
 */
export async function verifyAuditChain(deps: VerifyDeps): Promise<ChainReport> {
  const { prisma, audit } = deps;
  // The head first: every row up to it is committed (the head moves in the row's own transaction).
  const head = await readChainHead(prisma, false);
  const retentions: Retention[] = await prisma.auditRetention.findMany({ orderBy: { lastSeq: 'asc' } });
  const forged = forgedCheckpoint(audit, retentions);
  if (forged) {
    const reason = `retention record #${forged.id} (seq ${forged.firstSeq}..${forged.lastSeq}) is not signed with the audit key: rows were removed outside a retention run (forged or altered checkpoint)`;
    return broken(0, null, forged.firstSeq, reason);
  }
  if (head.hash === null) return headWithoutHash(deps, head, retentions);
  // The table refuses a second row with a MAC already used; one written with the index dropped (a
  // superuser) is a row copied from elsewhere in the chain, its link recomputed without the key.
  const [replayed] = await prisma.$queryRaw<Array<{ id: bigint; seq: bigint; original: bigint }>>`
    SELECT a.id, a.seq, b.seq AS original FROM audit_events a JOIN audit_events b ON a.mac = b.mac AND b.seq < a.seq
    ORDER BY a.seq LIMIT 1`;
  if (replayed) {
    const reason = `it repeats the MAC of the row at seq ${replayed.original}: a copy of that row (replayed)`;
    return broken(0, replayed.id.toString(), replayed.seq, reason);
  }
  const first = await prisma.auditEvent.findFirst({
    orderBy: { seq: 'asc' },
    select: { seq: true, id: true },
  });
  if (!first) {
    if (head.seq === 0n) return { ok: true, rows: 0, firstSeq: null, lastSeq: null };
    return broken(0, null, head.seq, 'every row is gone, but the chain head records rows up to this seq');
  }
  const start = startOf(retentions, first.seq);
  if (!start) {
    const reason = `rows before seq ${first.seq} are missing and no retention run (audit prune) removed them`;
    return broken(0, first.id.toString(), first.seq, reason);
  }
  const walked = await walk(
    deps,
    { seq: first.seq - 1n, id: -1n, hash: start.prev },
    head.seq,
    start.retention,
    { seq: head.signedSeq, hash: head.signedHash },
  );
  if (!walked.ok) return walked;
  const { link, rows } = walked;
  if (link.seq < head.seq) {
    const reason = `rows from seq ${link.seq + 1n} to ${head.seq} are missing (the newest rows were deleted)`;
    return broken(rows, null, link.seq + 1n, reason);
  }
  // Nothing signed yet is a head's state only until its first signature (audit-head-signer.ts).
  const signature =
    head.signedSeq === 0n ? head.mac === null : head.mac === headMac(audit, head.signedSeq, head.signedHash);
  if (head.hash !== link.hash || head.signedSeq > head.seq || !signature) {
    return broken(
      rows,
      null,
      head.seq,
      'the chain head was altered (it no longer matches the newest row and its MAC)',
    );
  }
  // The newest rows, written a moment ago, may not be signed yet; rows left unsigned for long mean
  // the signature was reset (or no server has run since the one that wrote them stopped).
  const unsignedSince = head.signedSeq < head.seq ? walked.signedAt : null;
  if (unsignedSince && Date.now() - unsignedSince.getTime() > UNSIGNED_GRACE_MS) {
    const reason = `rows from seq ${head.signedSeq + 1n} to ${head.seq} are not covered by the chain head's signature, the first written at ${unsignedSince.toISOString()}: the head's signature was reset, or no server has started since the one that wrote them stopped (a server signs them as it starts: start one and verify again)`;
    return broken(rows, null, head.signedSeq + 1n, reason);
  }
  if (start.retention && !walked.sawRetention) {
    const reason = `the retention anchor before seq ${first.seq} has no audit.prune row recording it (rows removed outside a retention run)`;
    return broken(rows, null, first.seq, reason);
  }
  const report = {
    ok: true as const,
    rows,
    firstSeq: first.seq.toString(),
    lastSeq: link.seq.toString(),
    ...(unsignedSince
      ? { unsigned: { rows: Number(head.seq - head.signedSeq), since: unsignedSince.toISOString() } }
      : {}),
  };
  const last = retentions.at(-1);
  if (!start.retention || !last) return report;
  const removed = {
    lastSeq: start.retention.lastSeq.toString(),
    runs: retentions.length,
    lastRunAt: last.at.toISOString(),
  };
  return { ...report, removed };
}
