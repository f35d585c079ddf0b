// The server side of the soak (bench/soak.ts): a LiveReview server in its own process, so its
// memory is its own, answering "measure" with the heap that survives full collections. The server
// module is an argument, so an older build can be measured under the same load (before/after).
// Run by bench/soak.ts: node --expose-gc dist/bench/soak-server.js [server-module]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';

const serverModule = process.argv[2] ?? new URL('../src/server/server.js', import.meta.url).pathname;
const configModule = serverModule.replace(/server\.js$/, 'config.js');
const { startServer } = (await import(
  pathToFileURL(serverModule).href
)) as typeof import('../src/server/server.js');
const { defaultConfig } = (await import(
  pathToFileURL(configModule).href
)) as typeof import('../src/server/config.js');

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const server = await startServer({
  ...defaultConfig(),
  port: 0,
  metricsPort: -1,
  httpPort: -1,
  data: mkdtempSync(join(tmpdir(), 'lr-soak-')),
  rateUserPerSecond: 0,
  rateSessionPerSecond: 0,
  logLevel: 'warn',
} as ReturnType<typeof defaultConfig>);

process.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && 'heapSnapshot' in m) {
    // What the heap holds, for finding what grows (bench/soak.ts --heap-snapshot FILE).
    for (let i = 0; i < 4; i++) gc();
    process.send!({ written: writeHeapSnapshot(String(m.heapSnapshot)) });
    return;
  }
  if (m !== 'measure') return;
  for (let i = 0; i < 4; i++) gc();
  const { heapUsed, rss } = process.memoryUsage();
  process.send!({ heapUsed, rss, sessions: server.engine.liveSessions });
});
process.on('disconnect', () => void server.shutdown(1000).then(() => process.exit(0)));
process.send!({ port: server.port });
