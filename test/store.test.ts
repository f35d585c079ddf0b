// The Store conformance suite against every embedded adapter.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { storeConformance } from './store-conformance.js';

storeConformance('memory', async () => new MemoryStore());
// A file database writes from its writer thread; an in-memory one (one connection) writes inline.
storeConformance('sqlite (in memory)', async () => new SqliteStore(':memory:'));
storeConformance('sqlite (file)', async () => new SqliteStore(mkdtempSync(join(tmpdir(), 'lr-store-'))));
storeConformance(
  'sqlite (no group commit)',
  async () => new SqliteStore(mkdtempSync(join(tmpdir(), 'lr-store-')), { groupCommit: false }),
);
