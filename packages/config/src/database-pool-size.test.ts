import { describe, expect, it } from 'vitest';
import { databasePoolSize, loadConfig } from './index.ts';

describe('databasePoolSize', () => {
  it('keeps 10 for the api and grows with WORKER_CONCURRENCY for a process that runs a worker', () => {
    const small = loadConfig({ WORKER_CONCURRENCY: '4' });
    expect(databasePoolSize(small, 'api')).toBe(10);
    expect(databasePoolSize(small, 'all')).toBe(10);
    const big = loadConfig({ WORKER_CONCURRENCY: '200' });
    expect(databasePoolSize(big, 'api')).toBe(10);
    expect(databasePoolSize(big, 'worker')).toBe(55);
    expect(databasePoolSize(loadConfig({ WORKER_CONCURRENCY: '256' }), 'all')).toBe(69);
  });

  it('DATABASE_POOL_SIZE wins for every role; empty means unset; zero is refused', () => {
    const set = loadConfig({ WORKER_CONCURRENCY: '200', DATABASE_POOL_SIZE: '25' });
    expect(databasePoolSize(set, 'api')).toBe(25);
    expect(databasePoolSize(set, 'worker')).toBe(25);
    expect(loadConfig({ DATABASE_POOL_SIZE: '' }).DATABASE_POOL_SIZE).toBeUndefined();
    expect(() => loadConfig({ DATABASE_POOL_SIZE: '0' })).toThrow(/DATABASE_POOL_SIZE/);
  });
});
