// What the SDK itself costs the process it runs in (a browser tab, an editor plugin): CPU per
// remote edit it applies, and memory per open file. A LiveReview server runs on core 0; this
// process holds N SDK clients (LiveReviewClient, the grpc-js transport) in one session and is meant
// to run on core 1 (`taskset -c 1`); a load generator in its own process types into the same session
// at a set rate. Never assertions: it prints what it measured.
// Run: npm run build --silent && taskset -c 1 node --expose-gc dist/bench/sdk-cost.js (npm run bench:sdk)
//        [--clients 20] [--rate 100] [--duration 6000] [--file-kb 64] [--files 10]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LiveReviewClient } from '../src/client/index.js';
import { bin, pin, startServer } from './systems.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
    duration: { type: 'string', default: '6000' },
    'file-kb': { type: 'string', default: '64' },
    files: { type: 'string', default: '10' },
  },
});
const CLIENTS = Number(args.clients);
const RATE = Number(args.rate);
const DURATION = Number(args.duration);
const FILE_KB = Number(args['file-kb']);
const FILES = Number(args.files);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const until = async (what: string, check: () => boolean, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const server = await startServer('livereview');
const target = `127.0.0.1:${server.port}`;
const prefix = `sdkbench${process.pid}`;
// The load generator's sessions are `${prefix}-<n>`; its participants type into bench.txt.
const sessionId = `${prefix}-0`;
const clients: LiveReviewClient[] = [];
try {
  // ---- memory per open file: one client, files of FILE_KB each opened one by one --------------
  const opener = new LiveReviewClient({ targets: [target], sessionId: `${prefix}-files`, userId: 'opener' });
  await opener.connect();
  const line = 'const value = computeSomething(input, options); // a line of code\n';
  const text = line.repeat(Math.ceil((FILE_KB * 1024) / line.length));
  const before = heapMb();
  for (let i = 0; i < FILES; i++) await opener.openReview([{ path: `f${i}.ts`, text }]);
  await until('the opened files', () => opener.files.length === FILES);
  const perFileKb = ((heapMb() - before) * 1024) / FILES;
  opener.close();

  // ---- CPU per applied remote edit: CLIENTS clients receive what the generator types ------------
  const idleHeap = heapMb();
  for (let i = 0; i < CLIENTS; i++) {
    const c = new LiveReviewClient({
      targets: [target],
      sessionId,
      userId: `reader${i}`,
      clientId: `reader${i}`,
    });
    clients.push(c);
  }
  await Promise.all(clients.map((c) => c.connect()));
  const perClientKb = ((heapMb() - idleHeap) * 1024) / CLIENTS;
  let applied = 0;
  for (const c of clients) c.on('edit', () => applied++);

  const [cmd, rest] = pin(0, [
    process.execPath,
    bin,
    'bench',
    '--target',
    target,
    '--sessions',
    '1',
    '--participants',
    '2',
    '--rate',
    String(RATE),
    '--duration',
    String(DURATION),
    '--warmup',
    '1000',
    '--session-prefix',
    prefix,
    '--json',
  ]);
  // The generator shares the server's core: this process's core is what is measured.
  const generator = spawn(cmd, rest, { stdio: ['ignore', 'ignore', 'ignore'] });
  await until('the first remote edit', () => applied > 0, 30_000);
  const cpu0 = process.cpuUsage();
  const applied0 = applied;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, DURATION - 500));
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const edits = applied - applied0;
  await new Promise((r) => generator.once('exit', r));
  const texts = new Set(clients.map((c) => c.file('bench.txt')?.text));
  const cpuUs = cpu.user + cpu.system;
  console.log(`# SDK cost — ${new Date().toISOString()}, node ${process.version}`);
  console.log(
    `command: node --expose-gc dist/bench/sdk-cost.js --clients ${CLIENTS} --rate ${RATE} --duration ${DURATION} --file-kb ${FILE_KB} --files ${FILES}`,
  );
  console.log('| metric | value |\n| --- | --- |');
  console.log(`| remote edits applied/s (all ${CLIENTS} clients) | ${(edits / seconds).toFixed(0)} |`);
  console.log(`| CPU of this process, % of a core | ${((cpuUs / 1e6 / seconds) * 100).toFixed(1)} |`);
  console.log(
    `| CPU µs per applied remote edit (decode, OT, replica, event) | ${(cpuUs / edits).toFixed(1)} |`,
  );
  console.log(`| JS heap per connected client (joined, no file yet) | ${perClientKb.toFixed(1)} KB |`);
  console.log(`| JS heap per open file of ${FILE_KB} KB | ${perFileKb.toFixed(1)} KB |`);
  console.log(
    `| clients with the same text at the end | ${texts.size === 1 ? 'all' : `${texts.size} different texts`} |`,
  );
} finally {
  for (const c of clients) c.close();
  await server.stop();
}
