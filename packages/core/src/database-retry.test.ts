import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, retryWhileDatabaseUnavailable } from './database-retry.ts';

/** What Prisma throws: an Error with a `code`. */
const prismaError = (code: string) => Object.assign(new Error(`prisma ${code}`), { code });

describe('retryWhileDatabaseUnavailable', () => {
  it('tries again while the pool or the connection is the trouble, then returns the result', async () => {
    const tries: number[] = [];
    const result = await retryWhileDatabaseUnavailable(async (n) => {
      tries.push(n);
      if (n === 1) throw prismaError('P2028');
      if (n === 2) throw prismaError('P1017');
      return 'written';
    });
    expect(result).toBe('written');
    expect(tries).toEqual([1, 2, 3]);
  });

  it('throws any other error at once', async () => {
    let tries = 0;
    await expect(
      retryWhileDatabaseUnavailable(async () => {
        tries++;
        throw prismaError('P2002');
      }),
    ).rejects.toThrow('prisma P2002');
    expect(tries).toBe(1);
  });

  it('gives up with the last error once its time is over', async () => {
    const started = Date.now();
    let tries = 0;
    await expect(
      retryWhileDatabaseUnavailable(
        async () => {
          tries++;
          throw prismaError('P2024');
        },
        { retryMs: 500 },
      ),
    ).rejects.toThrow('prisma P2024');
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(tries).toBeGreaterThan(2);
  });

  it('knows the codes of a database that is away or busy, and nothing else', () => {
    for (const code of ['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2037']) {
      expect(isDatabaseUnavailable(prismaError(code))).toBe(true);
    }
    expect(isDatabaseUnavailable(prismaError('P2025'))).toBe(false);
    expect(isDatabaseUnavailable(new Error('no code'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});
