import { CHANNELS, type Tx } from './deps.ts';

/**
 * Call inside the transaction that revokes or changes a credential (a runtime or browser
 * session, an API key, a device, a user's role or password). The notice is delivered on commit:
 * every API process drops its cached sessions and re-checks the credentials of its open event
 * streams, the CLI's changes included.
 */
export async function announceCredentialChange(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify(${CHANNELS.sessions}, '')`;
}
