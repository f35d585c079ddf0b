// The soak: sessions under steady typing with deletes for many minutes, reporting the heap the
// server keeps after full collections, per session, against each session's own data (its files'
// text). A server whose memory follows history length x file size (slices pinning document
// versions) shows it here within minutes; one whose memory follows its data stays flat.
//
//   npm run build && node dist/bench/soak.js [--minutes 10] [--sessions 20] [--participants 5]
//       [--rate 2] [--file-kb 32] [--server-module path/to/dist/src/server/server.js] [--json]
//       [--heap-snapshot FILE (the server's heap after the last sample, for finding what grows)]
//
// --server-module measures another build (e.g. an older commit built in a git worktree) under the
// same load. Not a test: it takes minutes, and its figures go to docs/benchmarks.md.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LiveReviewClient } from '../src/client/index.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const MINUTES = Number(args.get('minutes') ?? 10);
const SESSIONS = Number(args.get('sessions') ?? 20);
const PARTICIPANTS = Number(args.get('participants') ?? 5);
const RATE = Number(args.get('rate') ?? 2);
const FILE_KB = Number(args.get('file-kb') ?? 32);
const serverModule = args.get('server-module');

const child = fork(
  fileURLToPath(new URL('./soak-server.js', import.meta.url)),
  serverModule ? [serverModule] : [],
  {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  },
);
const port = await new Promise<number>((resolve) =>
  child.once('message', (m) => resolve((m as { port: number }).port)),
);
const measure = () =>
  new Promise<{ heapUsed: number; rss: number; sessions: number }>((resolve) => {
    child.once('message', (m) => resolve(m as { heapUsed: number; rss: number; sessions: number }));
    child.send('measure');
  });

// A file like code: lines of 40-80 characters.
const line = (i: number) => `  const value${i} = compute(input${i % 97}, options); // step ${i}\n`;
function sourceFile(kb: number): string {
  let text = '';
  for (let i = 0; text.length < kb * 1024; i++) text += line(i);
  return text;
}

let seed = 42;
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};

const target = `127.0.0.1:${port}`;
const clients: LiveReviewClient[] = [];
for (let s = 0; s < SESSIONS; s++) {
  for (let p = 0; p < PARTICIPANTS; p++) {
    clients.push(
      new LiveReviewClient({
        targets: [target],
        sessionId: `soak-${s}`,
        userId: `u${s}-${p}`,
        clientId: `c${s}-${p}`,
        circuitBreaker: { failureThreshold: 1000 },
      }),
    );
  }
}
// The heap of the server alone, before any session: what follows is the sessions' cost.
const baseline = (await measure()).heapUsed;
for (let s = 0; s < SESSIONS; s++) {
  const opener = clients[s * PARTICIPANTS]!;
  await opener.connect();
  await opener.openReview([{ path: 'main.ts', text: sourceFile(FILE_KB) }]);
}
await Promise.all(clients.map((c) => c.connect()));

/** One keystroke: mostly typing (sometimes a line break), sometimes deleting a word. */
function keystroke(c: LiveReviewClient): boolean {
  const text = c.file('main.ts')?.text ?? '';
  if (!c.synced && c.outboxSize > 50) return false; // do not outrun the server
  const at = Math.floor(random() * text.length);
  if (random() < 0.3 && text.length > 100) {
    const length = 5 + Math.floor(random() * 15);
    c.edit('main.ts', at > 0 ? [at, { d: Math.min(length, text.length - at) }] : [{ d: length }]);
  } else {
    const ch = random() < 0.05 ? '\n' : String.fromCharCode(97 + Math.floor(random() * 26));
    c.edit('main.ts', at > 0 ? [at, ch] : [ch]);
  }
  return true;
}

let editsMade = 0;
const interval = 1000 / RATE;
const timers = clients.map((c, i) =>
  setTimeout(
    function tick() {
      try {
        if (keystroke(c)) editsMade++;
      } catch {
        // outbox full or reconnecting: skip this keystroke
      }
      timers[i] = setTimeout(tick, interval);
    },
    Math.floor(random() * interval),
  ),
);

const dataChars = () => {
  let n = 0;
  for (let s = 0; s < SESSIONS; s++) n += clients[s * PARTICIPANTS]!.file('main.ts')?.text.length ?? 0;
  return n;
};
const started = Date.now();
const samples: {
  minute: number;
  heapMB: number;
  rssMB: number;
  heapPerSessionKB: number;
  dataPerSessionKB: number;
}[] = [];
const sample = async () => {
  const m = await measure();
  const data = dataChars();
  const s = {
    minute: Math.round((Date.now() - started) / 60_000),
    heapMB: +(m.heapUsed / 1048576).toFixed(1),
    rssMB: +(m.rss / 1048576).toFixed(1),
    heapPerSessionKB: Math.round((m.heapUsed - baseline) / 1024 / Math.max(1, m.sessions)),
    dataPerSessionKB: Math.round(data / 1024 / SESSIONS),
  };
  samples.push(s);
  process.stderr.write(
    `[soak] minute ${s.minute}: heap after GC ${s.heapMB} MB (${s.heapPerSessionKB} KB per session, data ${s.dataPerSessionKB} KB per session), RSS ${s.rssMB} MB\n`,
  );
};
await sample();
for (let m = 1; m <= MINUTES; m++) {
  await new Promise((r) => setTimeout(r, 60_000));
  await sample();
}
const heapSnapshot = args.get('heap-snapshot');
if (heapSnapshot) {
  const written = await new Promise<string>((resolve) => {
    child.once('message', (m) => resolve((m as { written: string }).written));
    child.send({ heapSnapshot });
  });
  process.stderr.write(`[soak] heap snapshot: ${written}\n`);
}
for (const t of timers) clearTimeout(t);
// Everything typed arrives, and every client ends with the same text as its session's others.
const deadline = Date.now() + 60_000;
while (!clients.every((c) => c.synced) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
await new Promise((r) => setTimeout(r, 2000));
let diverged = 0;
for (let s = 0; s < SESSIONS; s++) {
  const texts = new Set(
    clients.slice(s * PARTICIPANTS, (s + 1) * PARTICIPANTS).map((c) => c.file('main.ts')?.text),
  );
  if (texts.size !== 1) diverged++;
}
const report = {
  date: new Date().toISOString(),
  server: serverModule ?? 'this build',
  minutes: MINUTES,
  sessions: SESSIONS,
  participants: PARTICIPANTS,
  editsPerSecondEach: RATE,
  fileKB: FILE_KB,
  baselineHeapMB: +(baseline / 1048576).toFixed(1),
  samples,
  editsMade,
  diverged,
  unsynced: clients.filter((c) => !c.synced).length,
};
if (args.has('json')) process.stdout.write(JSON.stringify(report) + '\n');
else process.stderr.write(`[soak] ${JSON.stringify({ ...report, samples: samples.length })}\n`);
for (const c of clients) c.close();
child.disconnect();
setTimeout(() => process.exit(0), 1500).unref();
