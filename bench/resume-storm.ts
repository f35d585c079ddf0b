// The resume storm's client side: N SDK clients in S sessions connect, edit, and print READY; the
// runner then kills the server (SIGKILL) and restarts it on the same port and data directory. Each
// client reconnects with backoff and resumes after its last sequence number. Reports (JSON) the time
// from the first disconnect until every client has resumed, and whether every session converged
// with nothing lost (each client's text equals the server's and holds every acknowledged edit).
// Run by bench/run.ts: node dist/bench/resume-storm.js <target> <clients> <sessions>
import { LiveReviewClient } from '../src/client/index.js';

const [target = '127.0.0.1:50051', clientsArg = '2000', sessionsArg = '20'] = process.argv.slice(2);
const N = Number(clientsArg);
const S = Number(sessionsArg);

const clients: LiveReviewClient[] = [];
for (let i = 0; i < N; i++) {
  clients.push(
    new LiveReviewClient({
      targets: [target],
      sessionId: `storm-${i % S}`,
      userId: `u${i}`,
      clientId: `c${i}`,
      backoff: { baseDelayMs: 100, maxDelayMs: 1000 },
      // A restart is a burst of failures for everyone: keep trying rather than open the breaker.
      circuitBreaker: { failureThreshold: 1000 },
    }),
  );
}
const t0 = performance.now();
for (let i = 0; i < N; i += 200) await Promise.all(clients.slice(i, i + 200).map((c) => c.connect()));
const joinMs = performance.now() - t0;

// Every session gets edits from three of its clients (clients i and i + S share a session); wait
// until acknowledged. Token <c{i}> marks client i's edit; <c{i}-offline> one made while disconnected.
for (let i = 0; i < S * 3; i++) clients[i]!.edit('f.txt', [`<${clients[i]!.clientId}>`]);
await Promise.all(
  clients
    .slice(0, S * 3)
    .map((c) => new Promise<void>((r) => (c.synced ? r() : c.once('synced', () => r())))),
);
await new Promise((r) => setTimeout(r, 500));

let firstDisconnect = 0;
let cpuAtDisconnect: NodeJS.CpuUsage | undefined;
let resumed = 0;
let snapshots = 0;
let lastResume = 0;
const allResumed = new Promise<void>((resolve) => {
  for (const c of clients) {
    c.on('state', (s) => {
      if (s === 'reconnecting' && !firstDisconnect) {
        firstDisconnect = performance.now();
        cpuAtDisconnect = process.cpuUsage();
      }
    });
    c.on('ready', (r) => {
      if (!firstDisconnect) return;
      if (r.resumed) resumed++;
      else snapshots++;
      lastResume = performance.now();
      if (resumed + snapshots === N) resolve();
    });
  }
});
process.stdout.write('READY\n');

// While the server is down, some clients keep editing (offline, then resent on resume).
await new Promise<void>((r) => {
  const check = setInterval(() => {
    if (firstDisconnect) {
      clearInterval(check);
      r();
    }
  }, 5);
});
for (let i = S * 3; i < S * 4; i++) clients[i]!.edit('f.txt', [`<${clients[i]!.clientId}-offline>`]);
const timeout = new Promise<void>((r) => setTimeout(r, 60_000));
await Promise.race([allResumed, timeout]);
const resumeMs = lastResume - firstDisconnect;
// This process's own CPU while the clients reconnected: near 100 % means the 2000 clients, not the
// server, set the pace.
const stormCpu = process.cpuUsage(cpuAtDisconnect);
const clientCpuPercent = ((stormCpu.user + stormCpu.system) / 1000 / resumeMs) * 100;

// Audit: every client synced and equal to the server's text; every token exactly once.
await Promise.race([
  Promise.all(clients.map((c) => new Promise<void>((r) => (c.synced ? r() : c.once('synced', () => r()))))),
  new Promise((r) => setTimeout(r, 20_000)),
]);
// A synced client has no edit of its own in flight, but may still be receiving others' resent
// offline edits: compare again until every client matches the server (or 15 s pass), so a client
// still catching up is not counted as diverged while one that never converges is.
let lostTokens = 0;
let duplicatedTokens = 0;
let diverged = 0;
const auditEnd = performance.now() + 15_000;
do {
  await new Promise((r) => setTimeout(r, 500));
  lostTokens = 0;
  duplicatedTokens = 0;
  diverged = 0;
  for (let s = 0; s < S; s++) {
    const members = clients.filter((_, i) => i % S === s);
    const server = await members[0]!.getSession({ deadlineMs: 10_000 });
    const text = server.files.find((f) => f.path === 'f.txt')?.text ?? '';
    for (const m of members) if (m.file('f.txt')?.text !== text) diverged++;
    for (let i = 0; i < S * 4; i++) {
      if (i % S !== s) continue;
      const token = i < S * 3 ? `<c${i}>` : `<c${i}-offline>`;
      const count = text.split(token).length - 1;
      if (count === 0) lostTokens++;
      if (count > 1) duplicatedTokens++;
    }
  }
} while (diverged > 0 && performance.now() < auditEnd);
for (const c of clients) c.close();
process.stdout.write(
  JSON.stringify({
    clients: N,
    sessions: S,
    joinMs: Math.round(joinMs),
    resumeMs: Math.round(resumeMs),
    clientCpuPercent: Math.round(clientCpuPercent),
    resumed,
    snapshots,
    notResumed: N - resumed - snapshots,
    lostEdits: lostTokens,
    duplicatedEdits: duplicatedTokens,
    divergedClients: diverged,
  }) + '\n',
);
setTimeout(() => process.exit(0), 300);
