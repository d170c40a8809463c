import type { Tx } from '../deps.ts';

/** Failed sign-ins are counted over this window; each one is a DENIED `auth.signin` audit row. */
const FAILURE_WINDOW_MS = 15 * 60_000;
/** One address guessing at one account: the limit a guesser runs into. */
const MAX_PER_ACCOUNT_AND_ADDRESS = 5;
/**
 * One account, from any address: a cap on guessing from many addresses, high enough that a
 * stranger cannot lock the owner out of their own account from one or two addresses.
 */
const MAX_PER_ACCOUNT = 50;
/** One address, at any account (guessing across accounts). */
const MAX_PER_ADDRESS = 20;

/** First key of the sign-in advisory locks (the second is the account); no other lock uses it. */
const SIGN_IN_LOCK = 0x5167_6e49;

/**
 * Holds every other sign-in of `userId` until this transaction ends, across API processes. The
 * caller counts failures, checks the password and records the failure under this lock, so a burst
 * of concurrent guesses is counted one by one instead of all reading "no failures yet".
 */
export async function lockSignIns(tx: Tx, userId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SIGN_IN_LOCK}::int, hashtext(${userId}))`;
}

/** Why a sign-in is refused before its password is checked, or null when it may go ahead. */
export async function signInRefusal(tx: Tx, userId: string, ip: string | undefined): Promise<string | null> {
  // `at` is a timestamp holding UTC, as writeAudit stores it.
  const since = new Date(Date.now() - FAILURE_WINDOW_MS).toISOString();
  const address = ip ?? null;
  // One pass over the window's failures; an attempt without an address counts as one address.
  const [counts] = await tx.$queryRaw<Array<{ pair: number; account: number; address: number }>>`
    SELECT COUNT(*) FILTER (WHERE resource_id = ${userId}
                              AND detail->>'ip' IS NOT DISTINCT FROM ${address}::text)::int AS pair,
           COUNT(*) FILTER (WHERE resource_id = ${userId})::int AS account,
           COUNT(*) FILTER (WHERE detail->>'ip' = ${address}::text)::int AS address
      FROM audit_events
     WHERE action = 'auth.signin' AND outcome = 'DENIED' AND at >= ${since}::timestamptz AT TIME ZONE 'UTC'
       AND (resource_id = ${userId} OR detail->>'ip' = ${address}::text)`;
  const wait = `wait ${FAILURE_WINDOW_MS / 60_000} minutes or ask an admin to set a new password`;
  if ((counts?.pair ?? 0) >= MAX_PER_ACCOUNT_AND_ADDRESS) {
    return `too many failed sign-ins for this account from this address; ${wait}`;
  }
  if ((counts?.account ?? 0) >= MAX_PER_ACCOUNT) return `too many failed sign-ins for this account; ${wait}`;
  if ((counts?.address ?? 0) >= MAX_PER_ADDRESS) return `too many failed sign-ins from this address; ${wait}`;
  return null;
}
