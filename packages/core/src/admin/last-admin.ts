import type { Tx } from '../deps.ts';
import { Conflict } from '../errors.ts';

/**
 * Nobody may lock the server out of administration: one enabled ADMIN must remain. Checked by
 * every path that takes ADMIN from someone (the API and the CLI alike).
 */
export async function keepAnAdmin(tx: Tx, changing: string): Promise<void> {
  const admins = await tx.user.count({
    where: { roleName: 'ADMIN', disabled: false, id: { not: changing } },
  });
  if (admins === 0) throw new Conflict('this is the last enabled ADMIN; make someone else ADMIN first');
}
