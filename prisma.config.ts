import { defineConfig } from 'prisma/config';

// Used by the Prisma CLI (generate, validate, format). Migrations are applied by
// `clawlink migrate`, which needs no schema-engine binary.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/clawlink' },
});
