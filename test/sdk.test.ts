// The client SDK under faults: a chaos proxy drops, resets and stalls connections while three
// clients edit and comment; a server is killed and restarted under connected clients; the outbox
// bound and the circuit breaker behave as documented.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  LiveReviewClient,
  OutboxFullError,
  type ConnectionState,
  type MessageError,
  type RolledBackEdit,
} from '../src/client/index.js';
import { SessionClient } from '../src/client/core/index.js';
import { mintToken } from '../src/security/tokens.js';
import { HalfDuplexTransport } from './helpers/half-duplex-transport.js';
import { ChaosProxy } from './helpers/chaos-proxy.js';
import { openReview, ourClient, unaryCall } from './helpers/clients.js';
import { startTestServer } from './helpers/server.js';
import { freePort, startChildServer } from './helpers/child-server.js';
import { headOf } from './helpers/head-of.js';

const fast = { baseDelayMs: 20, maxDelayMs: 200 };

/** Inserts a unique token at a token boundary of the client's text, so tokens are never split. */
function insertToken(c: SessionClient, path: string, token: string, pick: number): void {
  const text = c.file(path)!.text;
  const boundaries = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '>') boundaries.push(i + 1);
  const at = boundaries[pick % boundaries.length]!;
  c.edit(path, at > 0 ? [at, token] : [token]);
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('client SDK', () => {
  it('converges through dropped, reset and stalled connections; every operation applied exactly once', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const admin = ourClient(server.address);
    await openReview(admin, 'chaos', [{ path: 'f.ts', text: '' }]);
    const proxy = new ChaosProxy(server.port);
    await proxy.listen();
    const clients = ['ann', 'ben', 'cat'].map(
      (u) =>
        new LiveReviewClient({
          targets: [`127.0.0.1:${proxy.port}`],
          sessionId: 'chaos',
          userId: u,
          clientId: u,
          backoff: fast,
          circuitBreaker: { failureThreshold: 1000 },
        }),
    );
    await Promise.all(clients.map((c) => c.connect()));
    const reconnects = new Map<string, number>();
    for (const c of clients)
      c.on(
        'state',
        (s: ConnectionState) =>
          s === 'reconnecting' && reconnects.set(c.clientId, (reconnects.get(c.clientId) ?? 0) + 1),
      );

    proxy.startChaos(Number(process.env.LIVEREVIEW_CHAOS_SEED ?? Date.now()));
    const tokens: string[] = [];
    const commentTexts: string[] = [];
    const acks: Promise<unknown>[] = [];
    // Edit until enough faults happened (at least 60 rounds, at most 600).
    for (
      let round = 0;
      round < 600 && (round < 60 || proxy.faults.drops + proxy.faults.resets < 8);
      round++
    ) {
      for (const [i, c] of clients.entries()) {
        const token = `<${c.clientId}-${round}>`;
        tokens.push(token);
        insertToken(c, 'f.ts', token, round * 7 + i);
        if (round % 10 === 0) {
          const text = `${c.clientId} says ${round}`;
          commentTexts.push(text);
          acks.push(c.comment('f.ts', 1, text));
        }
      }
      await new Promise((r) => setTimeout(r, 15));
    }
    proxy.stopChaos();
    await Promise.all(acks);
    const state = async () =>
      (await unaryCall(admin.getSession.bind(admin), { sessionId: 'chaos' })).files[0]!;
    await until('every client synced at the server version', async () => {
      const f = await state();
      return clients.every(
        (c) => c.synced && c.state === 'connected' && c.file('f.ts')!.version === f.version,
      );
    });
    const final = await state();
    for (const c of clients) assert.equal(c.file('f.ts')!.text, final.text, `${c.clientId} converged`);
    for (const t of tokens) assert.equal(final.text.split(t).length - 1, 1, `${t} applied exactly once`);
    const listed = await unaryCall(admin.listComments.bind(admin), {
      sessionId: 'chaos',
      filePath: '',
      includeResolved: true,
    });
    assert.deepEqual(
      listed.comments.map((c) => c.text).sort(),
      [...commentTexts].sort(),
      'every comment exactly once',
    );
    for (const c of clients)
      assert.equal(c.comments().length, commentTexts.length, `${c.clientId} saw every comment`);
    assert.ok(
      proxy.faults.drops + proxy.faults.resets > 3,
      `faults were injected: ${JSON.stringify(proxy.faults)}`,
    );
    assert.ok(
      [...reconnects.values()].some((n) => n > 0),
      'clients did reconnect',
    );
    for (const c of clients) c.close();
    admin.close();
    await proxy.close();
    await server.shutdown(500);
  });

  it('reconnects with backoff after a server restart, resumes and converges', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lr-sdk-restart-'));
    const port = await freePort();
    const start = () => startChildServer(port, data);
    let child = await start();
    const admin = ourClient(`127.0.0.1:${port}`);
    await openReview(admin, 'restart', [{ path: 'f.ts', text: '' }]);
    // A restart is a burst of fast failures that may open the breaker: let it re-try soon.
    const clients = ['x', 'y', 'z'].map(
      (u) =>
        new LiveReviewClient({
          targets: [`127.0.0.1:${port}`],
          sessionId: 'restart',
          userId: u,
          clientId: u,
          backoff: fast,
          circuitBreaker: { failureThreshold: 5, resetAfterMs: 300 },
        }),
    );
    await Promise.all(clients.map((c) => c.connect()));
    const states: string[] = [];
    clients[0]!.on('state', (s) => states.push(s));
    let stop = false;
    const typing = clients.map(async (c, i) => {
      for (let n = 0; !stop; n++) {
        insertToken(c, 'f.ts', `<${c.clientId}${n}>`, n + i);
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 200));
    child = await start();
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(typing);
    const file = async () =>
      (await unaryCall(admin.getSession.bind(admin), { sessionId: 'restart' })).files[0]!;
    await until('convergence after the restart', async () => {
      const f = await file();
      return clients.every((c) => c.synced && c.file('f.ts')!.version === f.version);
    });
    const final = await file();
    for (const c of clients) assert.equal(c.file('f.ts')!.text, final.text, `${c.clientId} converged`);
    const tokens = final.text.match(/<[xyz]\d+>/g) ?? [];
    assert.equal(new Set(tokens).size, tokens.length, 'no edit applied twice');
    assert.ok(
      states.includes('reconnecting') && states.at(-1) === 'connected',
      `went through reconnecting: ${states.join(' ')}`,
    );
    for (const c of clients) c.close();
    admin.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(data, { recursive: true, force: true });
  });

  it('bounds the outbox while disconnected with a clear error, and delivers it all on reconnect', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const admin = ourClient(server.address);
    await openReview(admin, 'outbox', [{ path: 'f', text: 'line\n' }]);
    const proxy = new ChaosProxy(server.port);
    const port = await proxy.listen();
    const c = new LiveReviewClient({
      targets: [`127.0.0.1:${port}`],
      sessionId: 'outbox',
      userId: 'u',
      outboxLimit: 5,
      backoff: fast,
      circuitBreaker: { failureThreshold: 1000 },
    });
    await c.connect();
    await proxy.close();
    await until('reconnecting', () => c.state === 'reconnecting');
    const acks = [c.comment('f', 1, 'one'), c.comment('f', 1, 'two'), c.comment('f', 1, 'three')];
    c.edit('f', ['a']);
    c.edit('f', ['b']);
    assert.equal(c.outboxSize, 5);
    assert.equal(c.synced, false);
    assert.throws(() => c.edit('f', ['c']), OutboxFullError);
    await assert.rejects(() => c.comment('f', 1, 'four'), OutboxFullError);
    await proxy.listen(port);
    const results = await Promise.all(acks);
    assert.deepEqual(
      results.map((r) => r.duplicate),
      [false, false, false],
    );
    await until('synced', () => c.synced);
    const s = await unaryCall(admin.getSession.bind(admin), { sessionId: 'outbox' });
    assert.equal(s.files[0]!.text, 'baline\n', 'both offline edits, once each');
    assert.deepEqual(s.comments.map((x) => x.text).sort(), ['one', 'three', 'two']);
    c.close();
    admin.close();
    await proxy.close();
    await server.shutdown(500);
  });

  it('opens its circuit breaker after repeated failures, then closes it with one trial attempt', async () => {
    const port = await freePort();
    const c = new LiveReviewClient({
      targets: [`127.0.0.1:${port}`],
      sessionId: 'cb',
      userId: 'u',
      backoff: { baseDelayMs: 5, maxDelayMs: 10 },
      circuitBreaker: { failureThreshold: 3, resetAfterMs: 2000 },
    });
    const connected = c.connect();
    await until('the breaker to open', () => c.breakerState === 'open');
    assert.equal(c.connectionAttempts, 3, 'opened after exactly the threshold of failures');
    const server = await startTestServer({ logLevel: 'warn', port });
    await connected;
    assert.equal(c.breakerState, 'closed');
    assert.equal(c.connectionAttempts, 4, 'no attempt while open; one trial after');
    c.close();
    await server.shutdown(500);
  });

  it('pauses out of the session keeping what it has, and on resume joins again, sends what was queued and catches up', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const admin = ourClient(server.address);
    await openReview(admin, 'pause', [{ path: 'f.ts', text: 'a\n' }]);
    const ann = new LiveReviewClient({
      targets: [server.address],
      sessionId: 'pause',
      userId: 'ann',
      backoff: fast,
    });
    const ben = new LiveReviewClient({
      targets: [server.address],
      sessionId: 'pause',
      userId: 'ben',
      backoff: fast,
    });
    const states: ConnectionState[] = [];
    ann.on('state', (s) => states.push(s));
    try {
      await ann.connect();
      await ben.connect();
      await until('both in the roster', () => ben.participants().length === 2);

      ann.pause();
      await until('ann paused', () => ann.state === 'paused');
      await until('ann gone from the roster', () => ben.participants().every((p) => p.userId !== 'ann'));
      // Written while paused: kept, not refused.
      ann.edit('f.ts', [2, 'from ann\n']);
      const comment = ann.comment('f.ts', 1, 'while paused');
      ben.edit('f.ts', ['from ben\n']);
      await until('ben synced', () => ben.synced);
      await new Promise((r) => setTimeout(r, 300)); // no retry, no reconnect while paused
      assert.equal(ann.state, 'paused');
      assert.equal(ann.file('f.ts')!.text, 'a\nfrom ann\n', 'nothing arrives while paused');

      ann.resume();
      await comment;
      await until(
        'converged',
        () => ann.synced && ben.synced && ann.file('f.ts')!.text === ben.file('f.ts')!.text,
      );
      assert.equal(ann.file('f.ts')!.text, 'from ben\na\nfrom ann\n');
      await until('the comment at ben', () => ben.comments().some((c) => c.text === 'while paused'));
      assert.deepEqual(states.slice(-3), ['paused', 'connecting', 'connected']);
    } finally {
      ann.close();
      ben.close();
      admin.close();
      await server.shutdown(500);
    }
  });

  it('does not retry a refusal that a retry cannot fix', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const c = new LiveReviewClient({ targets: [server.address], sessionId: '', userId: 'u', backoff: fast });
    await assert.rejects(
      c.connect(),
      (err: Error & { code?: number; reason?: string }) => err.code === 3 && err.reason === 'INVALID_JOIN',
    );
    assert.equal(c.state, 'failed');
    assert.equal(c.connectionAttempts, 1);
    await server.shutdown(500);
  });
});

describe('client SDK: refused changes', () => {
  it('undoes an edit the server refuses, tells why, keeps what was typed after it, and is synced again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-sdk-refused-'));
    const secretFile = join(dir, 'secret');
    const secret = 'a-test-secret-that-is-long-enough-0123456789';
    writeFileSync(secretFile, secret);
    const server = await startTestServer({ logLevel: 'warn', authSecretFile: secretFile });
    const token = (user: string, role: 'author' | 'reviewer') =>
      mintToken({
        secret,
        userId: user,
        sessions: { rb: role },
        ttlSeconds: 600,
        issuer: 'livereview',
        audience: 'livereview',
      });
    const ann = new LiveReviewClient({
      targets: [server.address],
      sessionId: 'rb',
      userId: 'ann',
      token: await token('ann', 'author'),
    });
    await ann.connect();
    await ann.openReview([{ path: 'f.ts', text: 'one\ntwo\n' }]);
    const rev = new LiveReviewClient({
      targets: [server.address],
      sessionId: 'rb',
      userId: 'rev',
      token: await token('rev', 'reviewer'),
    });
    await rev.connect();
    const rollbacks: RolledBackEdit[] = [];
    const synced: boolean[] = [];
    rev.on('rollback', (r) => rollbacks.push(r));
    rev.on('synced', (s) => synced.push(s));

    // A reviewer may not edit: the first edit goes out, the second waits behind it.
    rev.editLine('f.ts', 1, 'ONE');
    rev.edit('f.ts', [8, 'three\n']);
    assert.equal(rev.file('f.ts')!.text, 'ONE\ntwo\nthree\n', 'local edits show at once');
    await until('both edits refused', () => rollbacks.length === 2 && rev.synced);

    assert.deepEqual(
      rollbacks.map((r) => [r.path, r.error.code, r.error.reason, r.error.willRetry, r.undoneEdits]),
      [
        ['f.ts', 7, 'ROLE_FORBIDS', false, 1],
        ['f.ts', 7, 'ROLE_FORBIDS', false, 1],
      ],
    );
    assert.equal(rollbacks[0]!.file!.text, 'one\ntwo\nthree\n', 'the first undone, the second kept');
    assert.equal(rollbacks[1]!.file!.text, 'one\ntwo\n');
    assert.deepEqual(headOf(rev.file('f.ts')), { text: 'one\ntwo\n', version: 0 });
    assert.deepEqual(synced, [false, true]);
    const onServer = await ann.getSession();
    assert.equal(onServer.files[0]!.text, 'one\ntwo\n');

    // The session goes on: what a reviewer may do still works, at the right line.
    ann.editLine('f.ts', 1, 'zero\none');
    await until("ann's edit at the reviewer", () => rev.file('f.ts')!.version === 1);
    const ack = await rev.comment('f.ts', 3, 'fine');
    assert.ok(ack.sequence > 0);
    await until('the comment at line 3 everywhere', () => ann.comments().some((c) => c.line === 3));
    ann.close();
    rev.close();
    await server.shutdown(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it('forgets a file whose creation the server refused, in a session with no files', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const c = new LiveReviewClient({ targets: [server.address], sessionId: 'empty', userId: 'u' });
    await c.connect();
    const rolledBack = new Promise<RolledBackEdit>((resolve) => c.once('rollback', resolve));
    const tooLong = 'd/'.repeat(600) + 'f.ts';
    c.edit(tooLong, ['hello\n']);
    assert.deepEqual(c.files, [tooLong]);
    const r = await rolledBack;
    assert.equal(r.error.reason, 'INVALID_MESSAGE');
    assert.equal(r.file, undefined, 'the file does not exist on the server');
    assert.deepEqual(c.files, []);
    assert.equal(c.synced, true);
    c.edit('notes.md', ['hello\n']);
    await until('a valid file created', () => c.synced);
    // A file made by its first edit is one the review adds: its base is empty.
    assert.deepEqual((await c.getSession()).files, [
      { path: 'notes.md', version: 1, text: 'hello\n', base: { text: '' } },
    ]);
    c.close();
    await server.shutdown(500);
  });

  it('sends again what a rate limit refused for now, after the delay the server asks for', async () => {
    const server = await startTestServer({
      logLevel: 'warn',
      rateUserPerSecond: 10,
      rateUserBurst: 4,
    });
    const admin = ourClient(server.address);
    await openReview(admin, 'limited', [{ path: 'f', text: '' }]);
    const c = new LiveReviewClient({ targets: [server.address], sessionId: 'limited', userId: 'u' });
    await c.connect();
    const errors: MessageError[] = [];
    c.on('error', (e) => errors.push(e));
    const acks = Array.from({ length: 12 }, (_, i) => c.comment('f', 1, `comment ${i}`));
    for (let i = 0; i < 12; i++) c.edit('f', [`<${i}>`]);
    await Promise.all(acks);
    await until('every edit acknowledged', () => c.synced);
    assert.ok(
      errors.length > 0 && errors.every((e) => e.reason === 'RATE_LIMITED' && e.willRetry),
      `refused for now, and sent again: ${JSON.stringify(errors.slice(0, 3))}`,
    );
    const s = await c.getSession();
    assert.equal(s.comments.length, 12, 'every comment once');
    for (let i = 0; i < 12; i++) assert.equal(s.files[0]!.text.split(`<${i}>`).length, 2, `edit ${i} once`);
    c.close();
    admin.close();
    await server.shutdown(500);
  });
});

describe('client SDK over a half-duplex transport (Subscribe + Submit, as in a browser)', () => {
  it('converges with a bidirectional client, comments both ways, and undoes a refused edit', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const admin = ourClient(server.address);
    await openReview(admin, 'hd', [{ path: 'f.ts', text: '' }]);
    const bidi = new LiveReviewClient({ targets: [server.address], sessionId: 'hd', userId: 'bea' });
    const half = new SessionClient({
      transport: new HalfDuplexTransport(server.address),
      sessionId: 'hd',
      userId: 'hal',
      clientId: 'hal-1',
    });
    await Promise.all([bidi.connect(), half.connect()]);
    const tokens: string[] = [];
    const acks: Promise<unknown>[] = [];
    for (let round = 0; round < 30; round++) {
      for (const [i, c] of [bidi, half].entries()) {
        const token = `<${i}-${round}>`;
        tokens.push(token);
        insertToken(c, 'f.ts', token, round * 3 + i);
        if (round % 10 === 0) acks.push(c.comment('f.ts', 1, `${token} says hi`));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(acks);
    const server_ = async () => (await bidi.getSession()).files[0]!;
    await until('both synced at the server version', async () => {
      const f = await server_();
      return [bidi, half].every((c) => c.synced && c.file('f.ts')!.version === f.version);
    });
    const final = await server_();
    assert.equal(half.file('f.ts')!.text, final.text);
    assert.equal(bidi.file('f.ts')!.text, final.text);
    for (const t of tokens) assert.equal(final.text.split(t).length - 1, 1, `${t} once`);
    assert.equal(half.comments().length, 6);
    assert.equal(bidi.comments().length, 6);

    const undone = new Promise<RolledBackEdit>((resolve) => half.once('rollback', resolve));
    half.edit('bad\tpath', ['x']);
    assert.equal((await undone).error.reason, 'INVALID_MESSAGE');
    assert.equal(half.synced, true);
    bidi.close();
    half.close();
    admin.close();
    await server.shutdown(500);
  });
});
