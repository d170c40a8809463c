import { createPrisma } from '@ccl/db';
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from './isolation.ts';
import { createTestDatabase } from './test-database.ts';

describe('createTestDatabase', () => {
  it('gives a migrated database of its own, and drops it even while connected', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    expect(a.url).not.toBe(b.url);
    await b.drop();

    const prisma = createPrisma(a.url, { max: 1 });
    try {
      const tables = await prisma.$queryRaw`SELECT to_regclass('executions')::text AS t`;
      expect(tables).toEqual([{ t: 'executions' }]);
      await a.drop();
      await expect(prisma.$queryRaw`SELECT 1`).rejects.toThrow();
    } finally {
      await prisma.$disconnect();
    }
    const after = createPrisma(a.url, { max: 1 });
    await expect(after.$queryRaw`SELECT 1`).rejects.toThrow(/does not exist/);
    await after.$disconnect();
  });
});

describe('uniquePrefix', () => {
  it('differs per call and keeps to safe characters', () => {
    const [x, y] = [uniquePrefix('My Queue'), uniquePrefix('My Queue')];
    expect(x).not.toBe(y);
    expect(x).toMatch(/^my-queue-[0-9a-f]{12}$/);
  });
});
