import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.ts';

export interface CreatePrismaOptions {
  /** Pool size; pg's default (10) when unset. */
  max?: number;
}

export function createPrisma(databaseUrl: string, opts: CreatePrismaOptions = {}): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl, max: opts.max }),
    // Bursts of submits queue for a pooled connection; waiting a little beats failing the request.
    transactionOptions: { maxWait: 10_000, timeout: 15_000 },
  });
}
