// Cluster mode in one process: three servers sharing one store and one in-process bus (a LocalHub),
// so the replication logic is exercised quickly and deterministically, including a bus that drops
// everything for a while. The same behaviour over PostgreSQL and Redis, with real processes, is in
// test/cluster.test.ts.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LiveReviewClient } from '../src/client/index.js';
import { LocalBus, LocalHub } from '../src/bus/local/local-bus.js';
import type { Store } from '../src/core/store.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { openReview, ourClient, unaryCall } from './helpers/clients.js';
import type { ServerConfig } from '../src/server/config.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { decodeDetails } from './helpers/status-details.js';

const fast = { baseDelayMs: 20, maxDelayMs: 200 };
const CLUSTER = { clusterHeartbeatMs: 100, clusterExpiryMs: 800, clusterPollMs: 200, logLevel: 'warn' };

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Inserts a unique token at a token boundary, so tokens are never split by later inserts. */
function insertToken(c: LiveReviewClient, path: string, token: string, pick: number): void {
  const text = c.file(path)!.text;
  const boundaries = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '>') boundaries.push(i + 1);
  const at = boundaries[pick % boundaries.length]!;
  c.edit(path, at > 0 ? [at, token] : [token]);
}

/** Every client inserts a token of its own per round, pausing a moment every `pauseEvery` rounds
 * (so some edits cross the wire while others are typed); returns the tokens, each typed once. */
async function typeTokens(
  clients: LiveReviewClient[],
  rounds: number,
  pauseEvery: number,
): Promise<string[]> {
  const tokens: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of clients.entries()) {
      const token = `<${c.clientId}.${round}>`;
      tokens.push(token);
      insertToken(c, 'f.ts', token, round * 5 + i);
    }
    if (round % pauseEvery === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return tokens;
}

/** Three servers sharing one store (each through a view that leaves it open at its shutdown) and
 * one in-process bus, run for the enclosing suite. `stopped`: servers a test shut down itself;
 * `storeless`: servers whose appends fail, as if they could not reach the store. */
function threeInstances(config: Partial<ServerConfig>) {
  const hub = new LocalHub();
  const store = new MemoryStore();
  const servers: TestServer[] = [];
  const buses: LocalBus[] = [];
  const stopped = new Set<TestServer>();
  const storeless = new Set<number>();
  before(async () => {
    const started = await Promise.all(
      [0, 1, 2].map((i) => {
        const bus = new LocalBus(hub);
        buses.push(bus);
        const view: Store = Object.assign(Object.create(store) as Store, {
          close: async () => undefined,
          append: (...args: Parameters<Store['append']>) =>
            storeless.has(i) ? Promise.reject(new Error('connection refused')) : store.append(...args),
        });
        return startTestServer(config, { store: view, bus });
      }),
    );
    servers.push(...started);
  });
  after(async () => {
    await Promise.all(servers.filter((s) => !stopped.has(s)).map((s) => s.shutdown(500)));
    await Promise.all(buses.map((b) => b.close()));
    await store.close();
  });
  const client = (user: string, instance: number, session: string) =>
    new LiveReviewClient({
      targets: [servers[instance]!.address],
      sessionId: session,
      userId: user,
      clientId: `${user}-${instance}`,
      backoff: fast,
    });
  return { servers, buses, stopped, storeless, client };
}

describe('cluster mode in one process (shared store, in-process bus)', () => {
  const { servers, buses, client } = threeInstances(CLUSTER);

  it('clients on every instance edit one file concurrently and converge; comments, cursors and presence cross instances', async () => {
    const admin = ourClient(servers[0]!.address);
    await openReview(admin, 'c1', [{ path: 'f.ts', text: '' }]);
    const clients = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'].map((u, i) => client(u, i % 3, 'c1'));
    await Promise.all(clients.map((c) => c.connect()));
    await until('everyone sees everyone', () => clients.every((c) => c.participants().length >= 5));

    const tokens = await typeTokens(clients, 40, 8);
    const comment = await clients[1]!.comment('f.ts', 1, 'from instance 1');
    clients[2]!.moveCursor('f.ts', 1, 3);
    await until('every client synced', () => clients.every((c) => c.synced));
    const readers = servers.map((s) => ourClient(s.address));
    const server = (i: number) =>
      unaryCall(readers[i]!.getSession.bind(readers[i]!), { sessionId: 'c1', pageSize: 0, pageToken: '' });
    await until('every client has the server text', async () => {
      const text = (await server(0)).files[0]!.text;
      return clients.every((c) => c.file('f.ts')!.text === text);
    });
    const text = clients[0]!.file('f.ts')!.text;
    for (const t of tokens) assert.equal(text.split(t).length, 2, `${t} exactly once`);
    // Every instance (a late joiner on any of them) has the same state.
    for (const i of [0, 1, 2]) {
      const s = await server(i);
      assert.equal(s.files[0]!.text, text, `instance ${i} text`);
      assert.deepEqual(
        s.comments.map((c) => c.commentId),
        [comment.commentId],
      );
    }
    await until('the comment on every client', () =>
      clients.every((c) => c.comments().some((x) => x.text === 'from instance 1')),
    );
    const cursors: unknown[] = [];
    clients[0]!.on('cursor', (c) => cursors.push(c));
    clients[2]!.moveCursor('f.ts', 1, 4);
    await until('a cursor from another instance', () => cursors.length > 0);

    const late = client('late', 2, 'c1');
    await late.connect();
    assert.equal(late.file('f.ts')!.text, text);
    assert.equal(late.comments().length, 1);
    assert.ok(late.participants().length >= 6, 'the late joiner sees who is on other instances');
    late.close();
    for (const c of clients) c.close();
    for (const r of readers) r.close();
    admin.close();
  });

  it('nothing is lost while the bus drops everything: the log is read instead', async () => {
    const admin = ourClient(servers[0]!.address);
    await openReview(admin, 'c2', [{ path: 'f.ts', text: '' }]);
    const a = client('a', 0, 'c2');
    const b = client('b', 1, 'c2');
    await Promise.all([a.connect(), b.connect()]);
    buses[0]!.disconnect();
    buses[1]!.disconnect();
    for (let i = 0; i < 30; i++) {
      insertToken(a, 'f.ts', `<a${i}>`, i);
      insertToken(b, 'f.ts', `<b${i}>`, i);
    }
    await until('both synced, without the bus', () => a.synced && b.synced);
    await until('both have both', () => a.file('f.ts')!.text === b.file('f.ts')!.text);
    assert.equal(a.file('f.ts')!.text.length, 30 * 2 * 4 + 20 * 2);
    buses[0]!.reconnect();
    buses[1]!.reconnect();
    insertToken(a, 'f.ts', '<after>', 0);
    await until('the bus carries again', () => b.file('f.ts')!.text.includes('<after>'));
    a.close();
    b.close();
    admin.close();
  });

  it('an instance that stops heartbeating: its participants are shown LEFT elsewhere', async () => {
    const admin = ourClient(servers[0]!.address);
    await openReview(admin, 'c3', [{ path: 'f.ts', text: 'x' }]);
    const watcher = client('watcher', 0, 'c3');
    const ghost = client('ghost', 2, 'c3');
    await Promise.all([watcher.connect(), ghost.connect()]);
    await until('the ghost is present', () => watcher.participants().some((p) => p.userId === 'ghost'));
    buses[2]!.disconnect(); // instance 2 falls silent: no heartbeats, no LEFT
    await until('the ghost is gone after the expiry', () =>
      watcher.participants().every((p) => p.userId !== 'ghost'),
    );
    buses[2]!.reconnect(); // it comes back: its participants are announced again
    await until('the ghost is back', () => watcher.participants().some((p) => p.userId === 'ghost'));
    ghost.close();
    watcher.close();
    admin.close();
  });
});

describe('cluster mode in one process: one instance commits each session', () => {
  // A forwarded batch waits half the expiry for its answer before the asking instance commits it
  // itself: long here, so that a loaded machine does not make an instance give up on another.
  const config = { ...CLUSTER, clusterExpiryMs: 8000 };
  const { servers, buses, stopped, storeless, client } = threeInstances(config);
  // Every instance has heard the others' heartbeats: they agree on who commits what.
  before(() => new Promise((r) => setTimeout(r, 3 * config.clusterHeartbeatMs)));

  /** Forwarded batches the others gave up waiting for (logged by the instances that sent them). */
  const unanswered = () => servers.flatMap((s) => s.logs).filter((l) => l.what === 'forward a batch').length;
  let unansweredAfterSilence = -1;
  const counted = async (pick: (s: TestServer) => { get(): Promise<{ values: { value: number }[] }> }) =>
    Promise.all(servers.map(async (s) => (await pick(s).get()).values[0]?.value ?? 0));
  /** A new session with a client on each instance, and which instance commits it: the one that
   * committed its first edit. */
  async function oneClientPerInstance(session: string) {
    const admin = ourClient(servers[0]!.address);
    await openReview(admin, session, [{ path: 'f.ts', text: '' }]);
    admin.close();
    const clients = [0, 1, 2].map((i) => client(`${session}-u${i}`, i, session));
    await Promise.all(clients.map((c) => c.connect()));
    const before = await counted((s) => s.metrics.commits);
    insertToken(clients[0]!, 'f.ts', '<first>', 0);
    await until('the first edit everywhere', () =>
      clients.every((c) => c.file('f.ts')!.text.includes('<first>')),
    );
    const committer = (await counted((s) => s.metrics.commits)).findIndex((n, i) => n === before[i]! + 1);
    assert.ok(committer >= 0, 'one instance committed the first edit');
    return { clients, committer, others: clients.filter((_, i) => i !== committer) };
  }

  it('edits from every instance are committed by one, none lost a race; all converge, each once', async () => {
    const admin = ourClient(servers[0]!.address);
    await openReview(admin, 'w1', [{ path: 'f.ts', text: '' }]);
    const clients = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'].map((u, i) => client(u, i % 3, 'w1'));
    await Promise.all(clients.map((c) => c.connect()));
    await until('everyone sees everyone', () => clients.every((c) => c.participants().length >= 5));
    const committedBefore = await counted((s) => s.metrics.commits);
    const forwardedBefore = await counted((s) => s.metrics.forwardedCommands);

    const tokens = await typeTokens(clients, 30, 6);
    await until('every client synced', () => clients.every((c) => c.synced));
    await until('every client has the same text', () =>
      clients.every((c) => c.file('f.ts')!.text === clients[0]!.file('f.ts')!.text),
    );
    const text = clients[0]!.file('f.ts')!.text;
    for (const t of tokens) assert.equal(text.split(t).length, 2, `${t} exactly once`);

    const committed = (await counted((s) => s.metrics.commits)).map((n, i) => n - committedBefore[i]!);
    const forwarded = (await counted((s) => s.metrics.forwardedCommands)).map(
      (n, i) => n - forwardedBefore[i]!,
    );
    assert.deepEqual(await counted((s) => s.metrics.commitConflicts), [0, 0, 0], 'no batch lost a race');
    // (The SDK sends what is typed while an edit is in flight as one edit: fewer events than tokens.)
    const committer = committed.findIndex((n) => n > 0);
    assert.deepEqual(
      committed.map((n, i) => (i === committer ? n : 0)),
      committed,
      `one instance committed every edit: ${committed.join(', ')}`,
    );
    // The two others sent theirs to it.
    assert.equal(forwarded[committer], 0);
    assert.equal(forwarded.filter((n) => n > 0).length, 2, `forwarded: ${forwarded.join(', ')}`);
    for (const c of clients) c.close();
    admin.close();
  });

  it('a comment sent through any instance: acked once, its resend acked as a duplicate, a refusal keeps its reason', async () => {
    const admin = ourClient(servers[0]!.address);
    await openReview(admin, 'w2', [{ path: 'f.ts', text: 'one\ntwo\n' }]);
    const callers = servers.map((s) => ourClient(s.address));
    const submit = (instance: number, id: string, filePath: string) =>
      unaryCall(callers[instance]!.submit.bind(callers[instance]!), {
        message: SessionMessage.fromPartial({
          sessionId: 'w2',
          userId: 'web',
          clientId: `tab-${instance}`,
          clientMessageId: id,
          payload: { $case: 'comment', value: { filePath, lineNumber: 1, text: `via ${instance}` } },
        }),
      });
    const sequences = new Set<number>();
    for (const i of [0, 1, 2]) {
      const first = await submit(i, `m${i}`, 'f.ts');
      assert.equal(first.ack?.duplicate, false);
      sequences.add(first.ack!.sequence);
      const again = await submit(i, `m${i}`, 'f.ts');
      assert.deepEqual(
        { seq: again.ack?.sequence, dup: again.ack?.duplicate },
        { seq: first.ack?.sequence, dup: true },
        `the resend through instance ${i}`,
      );
      const refused = await submit(i, `x${i}`, 'nope.ts').then(
        () => assert.fail('a comment on a file that does not exist'),
        (err: grpc.ServiceError) => err,
      );
      assert.equal(refused.code, grpc.status.NOT_FOUND, `instance ${i}: ${refused.details}`);
      assert.equal(decodeDetails(refused.metadata)?.errorInfo?.reason, 'FILE_NOT_FOUND');
    }
    assert.equal(sequences.size, 3);
    const forwarded = await counted((s) => s.metrics.forwardedCommands);
    assert.ok(forwarded.filter((n) => n > 0).length >= 2, `two instances forwarded: ${forwarded.join(', ')}`);
    const readout = await unaryCall(callers[1]!.getSession.bind(callers[1]!), {
      sessionId: 'w2',
      pageSize: 0,
      pageToken: '',
    });
    assert.deepEqual(readout.comments.map((c) => c.text).sort(), ['via 0', 'via 1', 'via 2']);
    for (const c of callers) c.close();
    admin.close();
  });

  it('the committing instance falls silent: the others commit themselves, nothing lost or doubled', async () => {
    const { clients, committer, others } = await oneClientPerInstance('w3');
    buses[committer]!.disconnect();
    for (let i = 0; i < 5; i++)
      for (const [k, c] of others.entries()) insertToken(c, 'f.ts', `<s${k}.${i}>`, i);
    await until('the others synced without it', () => others.every((c) => c.synced), 60_000);
    // Its silence was waited out: the batches sent to it went unanswered, then were committed.
    unansweredAfterSilence = unanswered();
    assert.ok(unansweredAfterSilence > 0, 'a batch waited out its timeout');
    buses[committer]!.reconnect();
    await until('everyone converges', () =>
      clients.every((c) => c.synced && c.file('f.ts')!.text === others[0]!.file('f.ts')!.text),
    );
    const text = others[0]!.file('f.ts')!.text;
    for (let i = 0; i < 5; i++) for (const k of [0, 1]) assert.equal(text.split(`<s${k}.${i}>`).length, 2);
    for (const c of clients) c.close();
  });

  it('the committing instance cannot reach the store: the others commit their edits themselves, each once', async () => {
    const { clients, committer, others } = await oneClientPerInstance('w5');
    const refusals: string[] = [];
    for (const c of others) c.on('error', (e) => refusals.push(e.reason));
    storeless.add(committer);
    try {
      for (let i = 0; i < 5; i++)
        for (const [k, c] of others.entries()) insertToken(c, 'f.ts', `<p${k}.${i}>`, i);
      // Refused there for want of the store, committed where they came from instead.
      await until('the others synced while it has no store', () => others.every((c) => c.synced), 60_000);
    } finally {
      storeless.delete(committer);
    }
    await until('everyone converges', () =>
      clients.every((c) => c.synced && c.file('f.ts')!.text === others[0]!.file('f.ts')!.text),
    );
    const text = others[0]!.file('f.ts')!.text;
    for (let i = 0; i < 5; i++) for (const k of [0, 1]) assert.equal(text.split(`<p${k}.${i}>`).length, 2);
    assert.deepEqual(refusals, [], 'their clients were refused nothing');
    for (const c of clients) c.close();
  });

  // Last in this suite: it stops an instance.
  it('the committing instance shuts down mid-edit: the others commit what it declines, each edit once', async () => {
    const { clients, committer, others } = await oneClientPerInstance('w4');
    let stopping: Promise<void> | undefined;
    for (let i = 0; i < 20; i++) {
      for (const [k, c] of others.entries()) insertToken(c, 'f.ts', `<t${k}.${i}>`, i);
      if (i === 5) {
        stopped.add(servers[committer]!);
        stopping = servers[committer]!.shutdown(500);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await stopping;
    clients[committer]!.close();
    const unansweredBefore = unanswered();
    await until('the others synced', () => others.every((c) => c.synced), 60_000);
    await until('the others agree', () => others[0]!.file('f.ts')!.text === others[1]!.file('f.ts')!.text);
    const text = others[0]!.file('f.ts')!.text;
    for (let i = 0; i < 20; i++) for (const k of [0, 1]) assert.equal(text.split(`<t${k}.${i}>`).length, 2);
    // Its goodbye and its declines settled everything: no batch waited out its timeout.
    assert.equal(unanswered(), unansweredBefore);
    assert.equal(unansweredBefore, unansweredAfterSilence);
    for (const c of others) c.close();
  });
});
