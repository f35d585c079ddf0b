// Cluster mode for real: three `livereview serve` processes on one PostgreSQL database and one
// Redis. Clients spread over the instances; one instance is killed with SIGKILL under load; Redis
// is killed and restarted; PostgreSQL becomes unreachable for a few seconds. Afterwards every
// acknowledged event is in the log exactly once and in order, and every client has the server's text.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { LiveReviewClient } from '../src/client/index.js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { ChaosProxy } from './helpers/chaos-proxy.js';
import { freePorts, startChildServer } from './helpers/child-server.js';
import { isCase, joinSession, openReview, ourClient, unaryCall } from './helpers/clients.js';
import { createTestDatabase, databaseUrl, type TestDatabase } from './helpers/postgres.js';
import { PrivateRedis } from './helpers/redis.js';
import { decodeStatus } from './helpers/status-details.js';

const fast = { baseDelayMs: 50, maxDelayMs: 500 };
const EXPIRY_MS = 1500;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function insertToken(c: LiveReviewClient, path: string, token: string, pick: number): void {
  const text = c.file(path)!.text;
  const boundaries = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '>') boundaries.push(i + 1);
  const at = boundaries[pick % boundaries.length]!;
  c.edit(path, at > 0 ? [at, token] : [token]);
}

describe('cluster mode: three processes, PostgreSQL and Redis', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let pgProxy: ChaosProxy;
  const ports: number[] = [];
  const instances: (ChildProcess | undefined)[] = [];
  let sql: pg.Client;

  const start = async (i: number) => {
    instances[i] = await startChildServer(ports[i]!, databaseUrl(db.name, pgProxy.port), [
      '--bus',
      redis.url,
      '--cluster-heartbeat-ms',
      '200',
      '--cluster-expiry-ms',
      String(EXPIRY_MS),
      '--cluster-poll-ms',
      '300',
    ]);
  };
  const address = (i: number) => `127.0.0.1:${ports[i]}`;

  before(async () => {
    db = await createTestDatabase();
    const [redisPort, ...instancePorts] = await freePorts(4);
    ports.push(...instancePorts);
    redis = new PrivateRedis(redisPort!);
    await redis.start();
    pgProxy = new ChaosProxy(5432);
    await pgProxy.listen();
    // Started together: migrations must be safe when several instances start at once.
    await Promise.all([0, 1, 2].map(start));
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  after(async () => {
    for (const c of instances) c?.kill('SIGKILL');
    await sql?.end();
    await redis?.kill();
    await pgProxy?.close();
    await db?.drop();
  });

  /** The session's log: contiguous from 1, and no client message in it twice. */
  async function checkLog(session: string): Promise<number> {
    const rows = (
      await sql.query<{ seq: string; user_id: string; client_id: string; client_message_id: string }>(
        'SELECT seq, user_id, client_id, client_message_id FROM events WHERE session_id = $1 ORDER BY seq',
        [session],
      )
    ).rows;
    rows.forEach((r, i) => assert.equal(Number(r.seq), i + 1, 'gap-free, in order'));
    const origins = rows
      .filter((r) => r.client_message_id)
      .map((r) => `${r.user_id}/${r.client_id}/${r.client_message_id}`);
    assert.equal(new Set(origins).size, origins.length, 'no client message committed twice');
    return rows.length;
  }

  const client = (user: string, targets: number[], session: string) =>
    new LiveReviewClient({
      targets: targets.map(address),
      sessionId: session,
      userId: user,
      clientId: user,
      backoff: fast,
      circuitBreaker: { failureThreshold: 1000 },
    });

  it('clients spread over the instances converge; comments, cursors and presence cross; a late joiner on any instance gets the same state', async () => {
    const admin = ourClient(address(0));
    await openReview(admin, 'k1', [{ path: 'f.ts', text: '' }]);
    const clients = ['ann', 'ben', 'cat'].map((u, i) => client(u, [i], 'k1'));
    await Promise.all(clients.map((c) => c.connect()));
    await until('everyone sees everyone', () => clients.every((c) => c.participants().length >= 2));
    const tokens: string[] = [];
    for (let round = 0; round < 30; round++) {
      for (const [i, c] of clients.entries()) {
        tokens.push(`<${c.clientId}.${round}>`);
        insertToken(c, 'f.ts', tokens.at(-1)!, round + i);
      }
    }
    await clients[0]!.comment('f.ts', 1, 'a comment on instance 0');
    const cursors: { userId: string }[] = [];
    clients[2]!.on('cursor', (c) => cursors.push(c));
    clients[1]!.moveCursor('f.ts', 1, 2);
    await until('synced', () => clients.every((c) => c.synced));
    await until('same text everywhere', () =>
      clients.every((c) => c.file('f.ts')!.text === clients[0]!.file('f.ts')!.text),
    );
    const text = clients[0]!.file('f.ts')!.text;
    for (const t of tokens) assert.equal(text.split(t).length, 2, `${t} exactly once`);
    await until('the comment everywhere', () => clients.every((c) => c.comments().length === 1));
    await until('a cursor from instance 1 at instance 2', () => cursors.some((c) => c.userId === 'ben'));
    for (const i of [0, 1, 2]) {
      const reader = ourClient(address(i));
      const read = () =>
        unaryCall(reader.getSession.bind(reader), { sessionId: 'k1', pageSize: 0, pageToken: '' });
      const rosterOf = (r: Awaited<ReturnType<typeof read>>) => r.roster.map((p) => p.userId).sort();
      // The previous late joiner left through another instance: its departure crosses the bus
      // asynchronously, so wait until this instance has seen it.
      let s = await read();
      await until(`instance ${i}'s roster without the previous late joiner`, async () => {
        s = await read();
        return rosterOf(s).length === 3;
      });
      assert.equal(s.files[0]!.text, text, `instance ${i}`);
      assert.equal(s.comments.length, 1);
      assert.deepEqual(rosterOf(s), ['ann', 'ben', 'cat']);
      reader.close();
      const late = client(`late${i}`, [i], 'k1');
      await late.connect();
      assert.equal(late.file('f.ts')!.text, text);
      late.close();
    }
    await checkLog('k1'); // (the SDK composes edits typed while one is in flight: fewer events than tokens)
    for (const c of clients) c.close();
    admin.close();
  });

  it('an instance killed under load: its clients resume on the others; every acknowledged event once, in order; its participants expire', async () => {
    const admin = ourClient(address(1));
    await openReview(admin, 'k2', [{ path: 'f.ts', text: '' }]);
    // Each client prefers another instance first; all can fail over to any.
    const clients = ['a', 'b', 'c', 'd', 'e', 'f'].map((u, i) =>
      client(u, [i % 3, (i + 1) % 3, (i + 2) % 3], 'k2'),
    );
    const ghost = client('ghost', [0], 'k2'); // only knows instance 0: it cannot come back
    await Promise.all([...clients, ghost].map((c) => c.connect()));
    const watcher = client('watcher', [2], 'k2');
    await watcher.connect();
    await until('the ghost is seen from instance 2', () =>
      watcher.participants().some((p) => p.userId === 'ghost'),
    );

    const tokens: string[] = [];
    const acked: Promise<unknown>[] = [];
    let killed = false;
    for (let round = 0; round < 60; round++) {
      for (const [i, c] of clients.entries()) {
        tokens.push(`<${c.clientId}.${round}>`);
        insertToken(c, 'f.ts', tokens.at(-1)!, round * 3 + i);
        if (round % 15 === 0) acked.push(c.comment('f.ts', 1, `${c.clientId} says ${round}`));
      }
      if (round === 20) {
        instances[0]!.kill('SIGKILL');
        killed = true;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(killed);
    await Promise.all(acked);
    await until('all synced after the failover', () => clients.every((c) => c.synced), 90_000);
    const reader = ourClient(address(1));
    const read = () =>
      unaryCall(reader.getSession.bind(reader), { sessionId: 'k2', pageSize: 0, pageToken: '' });
    await until('every client has the server text', async () => {
      const text = (await read()).files[0]!.text;
      return clients.every((c) => c.file('f.ts')!.text === text);
    });
    const s = await read();
    for (const t of tokens) assert.equal(s.files[0]!.text.split(t).length, 2, `${t} exactly once`);
    const texts = s.comments.map((c) => c.text);
    assert.equal(new Set(texts).size, texts.length, 'each comment once');
    assert.equal(texts.length, 6 * 4);
    await checkLog('k2');
    // The dead instance's own participant is gone everywhere once it expired.
    await until('the ghost expired on every live instance', async () => {
      for (const i of [1, 2]) {
        const r = ourClient(address(i));
        const roster = (
          await unaryCall(r.getSession.bind(r), { sessionId: 'k2', pageSize: 0, pageToken: '' })
        ).roster;
        r.close();
        if (roster.some((p) => p.userId === 'ghost')) return false;
      }
      return true;
    });
    await until('the watcher saw it leave', () => watcher.participants().every((p) => p.userId !== 'ghost'));
    for (const c of [...clients, ghost, watcher]) c.close();
    reader.close();
    admin.close();
    await start(0); // back for the next tests
  });

  it('Redis killed and restarted mid-run: events keep flowing from the log, nothing lost', async () => {
    const admin = ourClient(address(0));
    await openReview(admin, 'k3', [{ path: 'f.ts', text: '' }]);
    const clients = ['p', 'q', 'r'].map((u, i) => client(u, [i], 'k3'));
    await Promise.all(clients.map((c) => c.connect()));
    const tokens: string[] = [];
    for (let round = 0; round < 40; round++) {
      if (round === 10) await redis.kill();
      if (round === 30) await redis.start();
      for (const [i, c] of clients.entries()) {
        tokens.push(`<${c.clientId}.${round}>`);
        insertToken(c, 'f.ts', tokens.at(-1)!, round + i);
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    await until('synced', () => clients.every((c) => c.synced));
    await until('converged', () =>
      clients.every((c) => c.file('f.ts')!.text === clients[0]!.file('f.ts')!.text),
    );
    for (const t of tokens) assert.equal(clients[2]!.file('f.ts')!.text.split(t).length, 2, `${t} once`);
    await checkLog('k3');
    for (const c of clients) c.close();
    admin.close();
  });

  it('PostgreSQL unreachable for a few seconds: UNAVAILABLE with RetryInfo, nothing acknowledged that was not committed, the retry lands', async () => {
    const admin = ourClient(address(2));
    await openReview(admin, 'k4', [{ path: 'f.ts', text: 'abc' }]);
    const raw = joinSession(admin, 'k4', 'writer', { clientId: 'writer-1' });
    await raw.got.waitFor(isCase('welcome'), 'welcome');
    const edit = SessionMessage.fromPartial({
      clientMessageId: 'during-outage',
      payload: {
        $case: 'edit',
        value: { filePath: 'f.ts', version: 0, operations: [{ kind: { $case: 'insert', value: 'X' } }] },
      },
    });
    await pgProxy.close(); // connections dropped, new ones refused
    raw.call.write(edit);
    const refused = await raw.got.waitFor(isCase('error'), 'the refusal', 30_000);
    const status = decodeStatus(refused.payload.value.status!);
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.equal(status.errorInfo?.reason, 'STORE_UNAVAILABLE');
    assert.ok(status.retryInfo?.retryDelay, 'RetryInfo says when');
    assert.ok(!raw.got.messages.some(isCase('ack')), 'nothing acknowledged');
    await pgProxy.listen(pgProxy.port);
    // The client retries under the same message id until it lands; exactly once.
    await until('the retry is acknowledged', async () => {
      if (raw.got.messages.some(isCase('ack'))) return true;
      raw.call.write(edit);
      await new Promise((r) => setTimeout(r, 500));
      return raw.got.messages.some(isCase('ack'));
    });
    const s = await unaryCall(admin.getSession.bind(admin), { sessionId: 'k4', pageSize: 0, pageToken: '' });
    assert.equal(s.files[0]!.text, 'Xabc');
    assert.equal(await checkLog('k4'), 2);
    raw.call.end();
    admin.close();
  });
});
