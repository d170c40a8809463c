import { Prisma, sqlOf } from '@ccl/db';
import { headMac, readChainHead } from './audit-chain.ts';
import type { CoreDeps } from './deps.ts';

/**
 * The chain head's signature follows the head: a write that moved the head in the database
 * (audit.ts chainedAudit, which cannot sign without a round trip) asks for it, and this process
 * signs the newest link within HEAD_SIGN_DELAY_MS, once for every write meanwhile. Until then the
 * newest rows are chained, and each carries its own MAC, but removing them and moving the head back
 * would not show: `audit verify` reports them as not signed yet. Boot and shutdown sign too.
 */
export const HEAD_SIGN_DELAY_MS = 200;

type SignerDeps = Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'log'>>;

const pending = new WeakMap<object, NodeJS.Timeout>();

/** After a write that moved the head unsigned: the head is signed within HEAD_SIGN_DELAY_MS. */
export function headMoved(deps: SignerDeps): void {
  if (pending.has(deps.prisma)) return;
  const timer = setTimeout(() => {
    pending.delete(deps.prisma);
    signAuditHead(deps).catch((err: unknown) =>
      // The next write asks again; boot signs what a stopped process left.
      deps.log?.warn({ err: (err as Error).message }, 'could not sign the audit chain head'),
    );
  }, HEAD_SIGN_DELAY_MS);
  timer.unref();
  pending.set(deps.prisma, timer);
}

/** Signs the head's link when it is newer than the one signed; what a pending timer would do, now. */
export async function signAuditHead(deps: SignerDeps): Promise<void> {
  const timer = pending.get(deps.prisma);
  if (timer) {
    clearTimeout(timer);
    pending.delete(deps.prisma);
  }
  const head = await readChainHead(deps.prisma, false);
  if (head.hash === null || head.signedSeq >= head.seq) return;
  // A signer that read an older head than another one's leaves the newer signature alone.
  await sqlOf(deps.prisma).query(Prisma.sql`
    UPDATE audit_chain_head
    SET signed_seq = ${head.seq}, signed_hash = ${head.hash}, mac = ${headMac(deps.audit, head.seq, head.hash)}
    WHERE id = 1 AND signed_seq < ${head.seq}`);
}
