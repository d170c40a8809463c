import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@ccl/db';
import { signAuditHead } from './audit-head-signer.ts';
import type { Tx } from './deps.ts';

/** HMACs with the audit key. The key stays inside the closure: the object serializes to `{}`. */
export interface AuditSigner {
  mac(text: string): string;
}

export function makeAuditSigner(key: Buffer | string): AuditSigner {
  const secret = Buffer.from(key);
  if (secret.length < 32) throw new Error('the audit HMAC key must be at least 32 bytes');
  return { mac: (text) => createHmac('sha256', secret).update(text, 'utf8').digest('hex') };
}

/** The previous hash of the first row of a chain that never lost a prefix. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields the chain covers: everything a row says, and its position. */
export interface ChainedRow {
  seq: bigint;
  at: Date;
  actorUserId: string | null;
  actorSession: string | null;
  actorDevice: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  outcome: string;
  requestId: string | null;
  detail: unknown;
}

/** A stored audit row: the chained fields plus its id and hash. */
export interface AuditRow extends ChainedRow {
  id: bigint;
  hash: string | null;
  /** The content's MAC; null on rows chained by their HMAC hash (before the link moved to the database). */
  mac: string | null;
}

/** JSON with object keys sorted at every depth, so jsonb's own key order never matters. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text PostgreSQL can store: NUL and unpaired surrogates become U+FFFD. Refusals record what a
 * caller sent (a path parameter, say) before any input check ran, and must never fail on it.
 */
export function storableText<T extends string | null>(text: T): T {
  return (text === null ? text : text.replaceAll('\u0000', '\ufffd').replace(LONE_SURROGATE, '\ufffd')) as T;
}

/** What a detail object looks like once stored as jsonb (dates as strings, undefined dropped). */
export function storedDetail(detail: Record<string, unknown> | undefined): Record<string, unknown> {
  const json = JSON.stringify(detail ?? {}, (_key, v: unknown) =>
    typeof v === 'string' ? storableText(v) : v,
  );
  return JSON.parse(json) as Record<string, unknown>;
}

/** What a row says, under the names the chain's texts use (their keys are sorted: order is free). */
const contentFields = (row: Omit<ChainedRow, 'seq'>) => ({
  at: row.at.toISOString(),
  actor_user_id: row.actorUserId,
  actor_session: row.actorSession,
  actor_device: row.actorDevice,
  action: row.action,
  resource_type: row.resourceType,
  resource_id: row.resourceId,
  outcome: row.outcome,
  request_id: row.requestId,
  detail: row.detail ?? {},
});

/** The text a row's hash is the HMAC of: its content, its seq and the previous row's hash. */
export function chainText(row: ChainedRow, prevHash: string): string {
  return canonicalJson({ v: 1, seq: row.seq.toString(), ...contentFields(row), prev: prevHash });
}

export const rowHash = (signer: AuditSigner, row: ChainedRow, prevHash: string) =>
  signer.mac(chainText(row, prevHash));

/**
 * A row's own MAC (rows since the chain is linked in the database): its content, not its place,
 * and a nonce of its own, stored with it as `<nonce>.<hmac>`. Without the key nobody writes a row
 * that verifies; the nonce makes every row's MAC different, so that a row copied to the head (a
 * replay, whose link needs no key) is refused by the table's unique index on `mac` and found by
 * verify. The place is the link's to prove. `nonce`: the stored one, when checking.
 */
export function contentMac(
  signer: AuditSigner,
  row: Omit<ChainedRow, 'seq'>,
  nonce: string = randomBytes(16).toString('hex'),
): string {
  return `${nonce}.${signer.mac(canonicalJson({ v: 2, nonce, ...contentFields(row) }))}`;
}

/** Does a stored `mac` match the row's content? */
export function contentMacMatches(signer: AuditSigner, row: Omit<ChainedRow, 'seq'>, mac: string): boolean {
  const dot = mac.indexOf('.');
  return dot > 0 && mac === contentMac(signer, row, mac.slice(0, dot));
}

/**
 * The link of a row that has a `mac`: SHA-256 (hex) of `<previous hash>:<seq>:<mac>`. The database
 * computes the same in the statement that writes the row (audit.ts, chainedAudit), so that the
 * head is locked only while that statement runs.
 */
export const linkHash = (prevHash: string, seq: bigint, mac: string) =>
  createHash('sha256').update(`${prevHash}:${seq}:${mac}`, 'utf8').digest('hex');

/** The head's MAC: without the key, nobody can move the head back to an earlier row. */
export const headMac = (signer: AuditSigner, seq: bigint, hash: string | null) =>
  signer.mac(canonicalJson({ v: 1, head: seq.toString(), hash }));

/** What a retention run's checkpoint says; its MAC makes a checkpoint written without the key visible. */
export interface Checkpoint {
  at: Date;
  actorUserId: string;
  before: Date;
  removed: number;
  firstSeq: bigint;
  lastSeq: bigint;
  anchorHash: string;
  archive: string;
  archiveSha256: string;
}

export const checkpointMac = (signer: AuditSigner, c: Checkpoint) =>
  signer.mac(
    canonicalJson({
      v: 1,
      checkpoint: {
        at: c.at.toISOString(),
        actor_user_id: c.actorUserId,
        before: c.before.toISOString(),
        removed: c.removed,
        first_seq: c.firstSeq.toString(),
        last_seq: c.lastSeq.toString(),
        anchor_hash: c.anchorHash,
        archive: c.archive,
        archive_sha256: c.archiveSha256,
      },
    }),
  );

export interface ChainHead {
  seq: bigint;
  hash: string | null;
  /** The newest link signed with the key; the head's MAC covers it (headMac). */
  signedSeq: bigint;
  signedHash: string | null;
  mac: string | null;
}

export async function readChainHead(tx: Pick<Tx, '$queryRaw'>, forUpdate: boolean): Promise<ChainHead> {
  const rows = forUpdate
    ? await tx.$queryRaw<ChainHead[]>`
        SELECT seq, hash, signed_seq AS "signedSeq", signed_hash AS "signedHash", mac
        FROM audit_chain_head WHERE id = 1 FOR UPDATE`
    : await tx.$queryRaw<ChainHead[]>`
        SELECT seq, hash, signed_seq AS "signedSeq", signed_hash AS "signedHash", mac
        FROM audit_chain_head WHERE id = 1`;
  const head = rows[0];
  if (!head) throw new Error('audit_chain_head has no row; run `clawlink migrate`');
  return head;
}

/**
 * True once the chain has begun: some row carries a hash, or a retention run removed some. A head
 * without a hash is then not a chain still to start but one reset behind the triggers' back.
 */
export async function chainStarted(tx: Pick<Tx, '$queryRaw'>): Promise<boolean> {
  const rows = await tx.$queryRaw<Array<{ started: boolean }>>`
    SELECT EXISTS (SELECT 1 FROM audit_events WHERE hash IS NOT NULL)
        OR EXISTS (SELECT 1 FROM audit_retentions) AS started`;
  return rows[0]?.started ?? false;
}

export const HEAD_RESET =
  'the audit chain head has no hash although the chain has begun: it was reset (tampering). ' +
  'Audited writes stop so that nothing is chained onto it; run `clawlink audit verify` and restore ' +
  'audit_chain_head from a backup';

/**
 * Locks the chain head for the rest of the caller's transaction and returns the link a new row
 * continues from. The row lock orders concurrent writers into one chain; in READ COMMITTED,
 * SELECT … FOR UPDATE returns the newest committed head after waiting. Rows written before the
 * chain existed (hash null) are sealed here first, once. A head that lost its hash after the chain
 * began is refused rather than restarted: restarting would write over the evidence.
 */
export async function lockChainHead(signer: AuditSigner, tx: Tx): Promise<{ seq: bigint; hash: string }> {
  const head = await readChainHead(tx, true);
  if (head.hash !== null) return { seq: head.seq, hash: head.hash };
  if (await chainStarted(tx)) throw new Error(HEAD_RESET);
  if (head.seq === 0n) return { seq: 0n, hash: GENESIS_HASH };
  return sealLegacyRows(signer, tx);
}

interface LegacyRow extends ChainedRow {
  id: bigint;
}

async function sealLegacyRows(signer: AuditSigner, tx: Tx): Promise<{ seq: bigint; hash: string }> {
  const rows = await tx.$queryRaw<LegacyRow[]>`
    SELECT id, seq, at, actor_user_id AS "actorUserId", actor_session AS "actorSession",
           actor_device AS "actorDevice", action, resource_type AS "resourceType",
           resource_id AS "resourceId", outcome::text AS outcome, request_id AS "requestId", detail
    FROM audit_events WHERE hash IS NULL ORDER BY seq`;
  let prev = GENESIS_HASH;
  let seq = 0n;
  const sealed: Array<{ id: string; hash: string }> = [];
  for (const row of rows) {
    prev = rowHash(signer, row, prev);
    seq = row.seq;
    sealed.push({ id: row.id.toString(), hash: prev });
  }
  for (let i = 0; i < sealed.length; i += 1000) {
    const part = sealed.slice(i, i + 1000);
    // The trigger lets exactly this through: a null hash set once, nothing else changed.
    await tx.$executeRaw`
      UPDATE audit_events AS a SET hash = v.hash
      FROM unnest(${part.map((p) => p.id)}::text[], ${part.map((p) => p.hash)}::text[]) AS v(id, hash)
      WHERE a.id = v.id::bigint`;
  }
  await tx.$executeRaw`
    UPDATE audit_chain_head SET seq = ${seq}, hash = ${prev}, signed_seq = ${seq}, signed_hash = ${prev},
                                mac = ${headMac(signer, seq, prev)}
    WHERE id = 1`;
  return { seq, hash: prev };
}

/**
 * Seals rows written before the chain existed, at boot, in a transaction of its own with room for
 * a long history; afterwards the first audited write finds nothing to do.
 */
export async function sealAuditChain(deps: { prisma: PrismaClient; audit: AuditSigner }): Promise<void> {
  const head = await readChainHead(deps.prisma, false);
  // What a process that stopped before its signer ran left unsigned is signed now.
  if (head.hash !== null && head.signedSeq < head.seq) return signAuditHead(deps);
  if (head.hash !== null || head.seq === 0n) return;
  // A reset head is left as found, for `audit verify` to report; audited writes refuse it.
  if (await chainStarted(deps.prisma)) return;
  await deps.prisma.$transaction((tx) => lockChainHead(deps.audit, tx), { timeout: 600_000 });
}
