export { testRedisUrl, uniquePrefix } from './isolation.ts';
export { createTestDatabase, type TestDatabase } from './test-database.ts';
