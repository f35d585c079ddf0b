// The Store conformance suite against every adapter: the embedded ones, and PostgreSQL (a fresh
// database on the shared server, dropped afterwards).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { storeConformance } from './store-conformance.js';

storeConformance('memory', async () => new MemoryStore());
storeConformance('memory (group commit)', async () => new MemoryStore({ groupCommit: true }));
// A file database flushes its WAL off the event loop; an in-memory one (no file) commits inline.
storeConformance('sqlite (in memory)', async () => new SqliteStore(':memory:'));
storeConformance('sqlite (file)', async () => new SqliteStore(mkdtempSync(join(tmpdir(), 'lr-store-'))));
storeConformance(
  'sqlite (no group commit)',
  async () => new SqliteStore(mkdtempSync(join(tmpdir(), 'lr-store-')), { groupCommit: false }),
);

for (const groupCommit of [true, false]) {
  let database: TestDatabase | undefined;
  storeConformance(
    `postgres${groupCommit ? '' : ' (no group commit)'}`,
    async () => PostgresStore.open(database!.url, { groupCommit }),
    {
      shared: true,
      before: async () => {
        database = await createTestDatabase();
      },
      after: async () => {
        await database?.drop();
      },
    },
  );
}
