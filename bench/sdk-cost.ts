// What the client SDK itself costs the process it runs in (a browser tab, an editor plugin, a bot):
// CPU per applied remote edit, and memory per open file. A server runs in its own process (pinned
// to core 0); this process (core 1) holds one writer and K readers of one file. The same writer
// load is measured twice, alternating: with K bare grpc-js readers (decode only: the transport's
// floor) and with K SDK clients (decode, client-side OT against the replica, anchors, events). The
// SDK's own cost is the difference per delivered edit. Then M files are opened into a session and
// one SDK client joins it: heap after GC per file, against the file's own text size.
//
// Run: npm run build && node dist/bench/sdk-cost.js [--readers 20] [--edits 2000] [--files 50]
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { LiveReviewClient } from '../src/client/index.js';
import { CodeReviewServiceClient, SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { startServer, type Server } from './systems.js';

const { values: args } = parseArgs({
  options: {
    readers: { type: 'string', default: '20' },
    edits: { type: 'string', default: '2000' },
    files: { type: 'string', default: '50' },
    'file-kb': { type: 'string', default: '20' },
    repeat: { type: 'string', default: '3' },
  },
});
const READERS = Number(args.readers);
const EDITS = Number(args.edits);
const FILES = Number(args.files);
const FILE_KB = Number(args['file-kb']);
const REPEAT = Number(args.repeat);

// This process on core 1, away from the server (core 0).
if (cpus().length >= 2) execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

const gc = (globalThis as { gc?: () => void }).gc;
const line = (i: number) => `export const value${i} = compute(${i}); // a line of code of ordinary length\n`;
const fileText = (kb: number) => {
  let text = '';
  for (let i = 0; text.length < kb * 1024; i++) text += line(i);
  return text;
};

function rawClient(port: number): CodeReviewServiceClient {
  return new CodeReviewServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.enable_channelz': 0,
  });
}

function join(client: CodeReviewServiceClient, sessionId: string, userId: string, clientId: string) {
  const call = client.collaborativeSession();
  call.write(
    SessionMessage.fromPartial({
      sessionId,
      userId,
      payload: { $case: 'join', value: { clientId, capabilities: ['ops_only', 'roster_updates'] } },
    }),
  );
  return call;
}

async function openFile(port: number, sessionId: string, files: { path: string; text: string }[]) {
  const c = rawClient(port);
  await new Promise<void>((resolve, reject) =>
    c.openReview({ sessionId, userId: 'author', clientMessageId: '', files }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  c.close();
}

/** Sends EDITS single-character inserts, each after the previous one's ack (its version). */
async function write(port: number, sessionId: string, length: number): Promise<number> {
  const client = rawClient(port);
  const call = join(client, sessionId, 'writer', 'writer');
  let version = 0;
  let resolveAck: ((v: number) => void) | undefined;
  call.on('data', (m: SessionMessage) => {
    if (m.payload?.$case === 'ack') resolveAck?.(m.payload.value.version);
  });
  call.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < EDITS; i++) {
    const at = (i * 7919) % (length + i);
    const acked = new Promise<number>((r) => (resolveAck = r));
    call.write(
      SessionMessage.fromPartial({
        clientMessageId: `w${i}`,
        payload: {
          $case: 'edit',
          value: {
            filePath: 'f.ts',
            version,
            operations: [
              ...(at > 0 ? [{ kind: { $case: 'retain' as const, value: at } }] : []),
              { kind: { $case: 'insert' as const, value: 'x' } },
            ],
          },
        },
      }),
    );
    version = await acked;
  }
  call.end();
  client.close();
  return version;
}

interface Run {
  cpuUsPerDelivery: number;
}

async function runRaw(server: Server, sessionId: string, length: number): Promise<Run> {
  const clients = Array.from({ length: READERS }, () => rawClient(server.port));
  let delivered = 0;
  const done = new Promise<void>((resolve) => {
    clients.forEach((c, i) => {
      const call = join(c, sessionId, `raw${i}`, `raw${i}`);
      call.on('data', (m: SessionMessage) => {
        if (m.payload?.$case === 'edit' && ++delivered === READERS * EDITS) resolve();
      });
      call.on('error', () => undefined);
    });
  });
  await new Promise((r) => setTimeout(r, 500));
  const cpu = process.cpuUsage();
  await write(server.port, sessionId, length);
  await done;
  const used = process.cpuUsage(cpu);
  for (const c of clients) c.close();
  return { cpuUsPerDelivery: (used.user + used.system) / (READERS * EDITS) };
}

async function runSdk(server: Server, sessionId: string, length: number): Promise<Run> {
  const clients = Array.from(
    { length: READERS },
    (_, i) =>
      new LiveReviewClient({
        targets: [`127.0.0.1:${server.port}`],
        sessionId,
        userId: `sdk${i}`,
        clientId: `sdk${i}`,
      }),
  );
  await Promise.all(clients.map((c) => c.connect()));
  let applied = 0;
  const done = new Promise<void>((resolve) => {
    for (const c of clients)
      c.on('edit', () => {
        if (++applied === READERS * EDITS) resolve();
      });
  });
  const cpu = process.cpuUsage();
  await write(server.port, sessionId, length);
  await done;
  const used = process.cpuUsage(cpu);
  const text = clients[0]!.file('f.ts')!.text;
  if (!clients.every((c) => c.file('f.ts')!.text === text)) throw new Error('SDK readers diverged');
  for (const c of clients) c.close();
  return { cpuUsPerDelivery: (used.user + used.system) / (READERS * EDITS) };
}

async function memoryPerFile(server: Server): Promise<{ kbPerFile: number; textKb: number }> {
  const text = fileText(FILE_KB);
  const files = Array.from({ length: FILES }, (_, i) => ({ path: `src/f${i}.ts`, text }));
  // Distinct strings per file, as a real review has (a shared string would be counted once).
  for (const f of files) f.text = `// ${f.path}\n${text}`;
  for (let i = 0; i < files.length; i += 10) await openFile(server.port, 'memory', files.slice(i, i + 10));
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const client = new LiveReviewClient({
    targets: [`127.0.0.1:${server.port}`],
    sessionId: 'memory',
    userId: 'reader',
  });
  await client.connect();
  if (client.files.length !== FILES) throw new Error(`joined with ${client.files.length} files`);
  await new Promise((r) => setTimeout(r, 200));
  gc?.();
  const after = process.memoryUsage().heapUsed;
  client.close();
  return { kbPerFile: (after - before) / 1024 / FILES, textKb: files[0]!.text.length / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const server = await startServer('livereview-memory');
try {
  const base = fileText(FILE_KB);
  const raw: number[] = [];
  const sdk: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    await openFile(server.port, `raw-${r}`, [{ path: 'f.ts', text: base }]);
    raw.push((await runRaw(server, `raw-${r}`, base.length)).cpuUsPerDelivery);
    await openFile(server.port, `sdk-${r}`, [{ path: 'f.ts', text: base }]);
    sdk.push((await runSdk(server, `sdk-${r}`, base.length)).cpuUsPerDelivery);
  }
  const memory = await memoryPerFile(server);
  const f = (n: number) => n.toFixed(1);
  console.log(
    `\n### Client SDK cost (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'})\n`,
  );
  console.log(
    `${READERS} readers of one ${FILE_KB} KB file, ${EDITS} remote edits each, ${REPEAT} runs alternating (median, min-max)\n`,
  );
  console.log('| | bare grpc-js reader (decode only) | SDK client | SDK / bare |');
  console.log('| --- | --- | --- | --- |');
  const range = (xs: number[]) => `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})`;
  console.log(
    `| client process CPU µs per applied remote edit | ${range(raw)} | ${range(sdk)} | ${(median(sdk) / median(raw)).toFixed(2)}x |`,
  );
  console.log(
    `\nMemory: ${FILES} files of ${f(memory.textKb)} KB open in one SDK client: ${f(memory.kbPerFile)} KB of heap per file ` +
      `(${(memory.kbPerFile / memory.textKb).toFixed(2)}x its text)${gc ? '' : ' (run with --expose-gc for figures after GC)'}`,
  );
} finally {
  await server.stop();
}
