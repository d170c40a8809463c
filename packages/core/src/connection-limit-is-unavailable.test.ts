import { randomBytes } from 'node:crypto';
import { createPrisma, Prisma, sqlOf } from '@ccl/db';
import { createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from './database-retry.ts';

/**
 * PostgreSQL out of connections ("sorry, too many clients already", SQLSTATE 53300) is a busy
 * database, not a failure of the request: a run's writes wait for it and a request answers 503.
 * It was a 500 (the throughput bench met it when processes left behind held the machine's
 * connections), since neither Prisma's code for it nor pg's reached isDatabaseUnavailable.
 * A role allowed no connection gets the same error on the wire.
 */
describe('a database out of connections is unavailable, not an error', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const role = `ccl_no_conn_${randomBytes(4).toString('hex')}`;
  let limitedUrl = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    const admin = createPrisma(db.url, { max: 1 });
    await admin.$executeRawUnsafe(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 0`);
    await admin.$disconnect();
    const url = new URL(db.url);
    url.username = role;
    url.password = '';
    limitedUrl = url.toString();
  });
  afterAll(async () => {
    const admin = createPrisma(db.url, { max: 1 });
    await admin.$executeRawUnsafe(`DROP ROLE IF EXISTS ${role}`);
    await admin.$disconnect();
    await db?.drop();
  });

  it("through Prisma's client (a model's query, a raw one) and through the raw path alike", async () => {
    const prisma = createPrisma(limitedUrl, { max: 1 });
    try {
      const viaPrisma = await prisma.$queryRaw`SELECT 1`.catch((err: unknown) => err);
      expect(String((viaPrisma as Error).message)).toMatch(/too many connections/i);
      expect(isDatabaseUnavailable(viaPrisma)).toBe(true);
      const viaModel = await prisma.user.count().catch((err: unknown) => err);
      expect(String((viaModel as Error).message)).toMatch(/too many/i);
      expect(isDatabaseUnavailable(viaModel)).toBe(true);
      const viaRaw = await sqlOf(prisma)
        .query(Prisma.sql`SELECT 1`)
        .catch((err: unknown) => err);
      expect(String((viaRaw as Error).message)).toMatch(/too many connections/i);
      expect(isDatabaseUnavailable(viaRaw)).toBe(true);
    } finally {
      await prisma.$disconnect();
    }
  });
});
