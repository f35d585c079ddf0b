// "Acknowledged" means durable: a server killed with SIGKILL under load and restarted on the same
// data directory serves every acknowledged event, in order, exactly once, and its clients resume
// and converge. Plus bounded memory (eviction) and clear errors for bad data directories.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { SessionMessage, SubscribeResponse } from '../src/gen/codereview/v1/codereview.js';
import { Collector, isCase, joinSession, openReview, ourClient, unaryCall } from './helpers/clients.js';
import { TestEditor } from './helpers/editor.js';
import { startTestServer } from './helpers/server.js';
import { bin, freePort, startChildServer } from './helpers/child-server.js';

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const startChild = startChildServer;

/** Every event of a session's log, read with Subscribe from the start. */
async function readLog(
  client: ReturnType<typeof ourClient>,
  sessionId: string,
  head: number,
): Promise<SessionMessage[]> {
  const sub = client.subscribe({ sessionId, userId: 'auditor', clientId: 'auditor', resumeAfterSequence: 0 });
  const got = new Collector<SubscribeResponse>(sub);
  if (head > 0) await got.waitFor((r) => r.message?.sequence === head, `event ${head}`, 20_000);
  sub.cancel();
  return got.messages.map((r) => r.message!).filter((m) => m.sequence > 0);
}

describe('durability', () => {
  it('keeps every acknowledged event across SIGKILL, in order, exactly once; clients resume and converge', async () => {
    const data = tempDir('lr-crash-');
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    let child = await startChild(port, data);
    let client = ourClient(address);
    await unaryCall(client.openReview.bind(client), {
      sessionId: 'crash',
      userId: 'a',
      clientMessageId: 'open',
      files: [{ path: 'f.ts', text: 'start\n' }],
    });
    const editors = ['ann', 'ben', 'cat'].map((u) => new TestEditor(client, 'crash', u, u));
    await Promise.all(editors.map((e) => e.ready));

    let running = true;
    const loops = editors.map(async (e, i) => {
      let n = 0;
      while (running && !e.got.ended) {
        n++;
        e.edit('f.ts', (t) =>
          [
            Math.floor((((n * 7919 + i * 104729) % 1000) / 1000) * (t.length + 1)),
            `${e.clientId}${n} `,
          ].filter((c) => c !== 0),
        );
        if (n % 4 === 0) {
          e.write({
            clientMessageId: `${e.clientId}-c${n}`,
            payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: `note ${n}` } },
          });
        }
        await new Promise((r) => setTimeout(r, 2 + (n % 5)));
      }
    });
    await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 800)));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    running = false;
    await Promise.all(loops);
    const acked = editors.flatMap((e) =>
      [...e.acked].map(([id, seq]) => ({ clientId: e.clientId, id, seq })),
    );
    assert.ok(acked.length > 10, `some events were acknowledged before the kill (${acked.length})`);

    child = await startChild(port, data);
    client.close();
    client = ourClient(address);
    const state = await unaryCall(client.getSession.bind(client), { sessionId: 'crash' });
    const log = await readLog(client, 'crash', state.headSequence);
    assert.deepEqual(
      log.map((m) => m.sequence),
      Array.from({ length: state.headSequence }, (_, i) => i + 1),
      'gap-free, in order',
    );
    for (const a of acked) {
      const e = log[a.seq - 1];
      assert.ok(e, `acknowledged ${a.clientId}/${a.id} (event ${a.seq}) survived the crash`);
      assert.deepEqual(
        [e.clientId, e.clientMessageId],
        [a.clientId, a.id],
        `acknowledged ${a.id} is event ${a.seq}`,
      );
    }
    const origins = log.filter((m) => m.clientMessageId).map((m) => `${m.clientId}/${m.clientMessageId}`);
    assert.equal(new Set(origins).size, origins.length, 'no event twice');

    // The clients resume (resending what was in flight) and converge.
    for (const e of editors) {
      await e.reconnect(client);
      e.resendPending();
    }
    const final = await waitForConvergence(client, editors);
    for (const e of editors) assert.equal(e.text('f.ts'), final, `${e.clientId} converged`);
    for (const e of editors) e.close();
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });

  it('evicts sessions nobody is in and reloads one with all its state on the next join', async () => {
    const server = await startTestServer({ data: tempDir('lr-evict-'), evictAfterMs: 100, logLevel: 'warn' });
    const client = ourClient(server.address);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          const id = `ev-${batch * 100 + j}`;
          await openReview(client, id, [{ path: 'f', text: `file of ${id}\n` }]);
          const p = joinSession(client, id, 'a');
          await p.got.waitFor(isCase('welcome'), 'welcome');
          p.call.write({
            sessionId: '',
            timestamp: 0,
            userId: '',
            sequence: 0,
            clientMessageId: 'k',
            clientId: '',
            payload: {
              $case: 'comment',
              value: {
                commentId: 'keep',
                lineNumber: 1,
                text: 'kept',
                filePath: 'f',
                action: 0,
                parentId: '',
                version: 0,
                authorId: '',
                state: 0,
                outdated: false,
                originalLineText: '',
                createdAt: 0,
                updatedAt: 0,
              },
            },
          });
          await p.got.waitFor(isCase('ack'), 'ack');
          p.call.end();
          await p.got.waitForEnd();
        }),
      );
    }
    const deadline = Date.now() + 20_000;
    while (server.engine.liveSessions > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.engine.liveSessions, 0, 'every left session was evicted');

    const again = joinSession(client, 'ev-500', 'b');
    const snap = await again.got.waitFor(isCase('snapshot'), 'snapshot');
    assert.equal(snap.payload.value.files[0]?.text, 'file of ev-500\n');
    assert.deepEqual(
      snap.payload.value.comments.map((c) => [c.commentId, c.text, c.lineNumber]),
      [['keep', 'kept', 1]],
    );
    assert.equal(server.engine.liveSessions, 1);
    again.call.end();
    client.close();
    await server.shutdown(500);
  });

  it('refuses to start on a corrupt database, or on a directory another server uses, with a clear error', async () => {
    const corrupt = tempDir('lr-corrupt-');
    writeFileSync(join(corrupt, 'livereview.db'), 'this is not a database'.repeat(100));
    const r = spawnSync(
      process.execPath,
      [bin, 'serve', '--port', '0', '--metrics-port', '-1', '--http-port', '-1', '--data', corrupt],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot open the database .*livereview\.db.*(not a database|NOTADB)/i);
    assert.match(r.stderr, /restore it from a backup/);

    const shared = tempDir('lr-locked-');
    const first = await startChild(await freePort(), shared);
    const second = spawnSync(
      process.execPath,
      [bin, 'serve', '--port', '0', '--metrics-port', '-1', '--http-port', '-1', '--data', shared],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`in use by process ${first.pid}`));
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
  });
});

async function waitForConvergence(
  client: ReturnType<typeof ourClient>,
  editors: TestEditor[],
): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = await unaryCall(client.getSession.bind(client), { sessionId: 'crash' });
    const f = s.files.find((x) => x.path === 'f.ts')!;
    if (editors.every((e) => e.docs.get('f.ts')?.synced && e.docs.get('f.ts')?.version === f.version))
      return f.text;
    if (Date.now() > deadline) {
      throw new Error(
        `no convergence: server v${f.version}; ${editors.map((e) => `${e.clientId} v${e.docs.get('f.ts')?.version} synced=${e.docs.get('f.ts')?.synced} errors=${e.errors.length}`).join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('backup and restore', () => {
  it('backs up a running server online and restores into a new data directory', async () => {
    const data = tempDir('lr-backup-src-');
    const port = await freePort();
    const child = await startChild(port, data);
    const client = ourClient(`127.0.0.1:${port}`);
    await openReview(client, 'bk', [{ path: 'f', text: 'kept\n' }]);
    const file = join(tempDir('lr-backup-file-'), 'backup.db');
    const backup = spawnSync(process.execPath, [bin, 'backup', '--data', data, '--to', file], {
      encoding: 'utf8',
    });
    assert.equal(backup.status, 0, backup.stderr);
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));

    const restored = tempDir('lr-backup-dst-');
    const restore = spawnSync(process.execPath, [bin, 'restore', '--from', file, '--data', restored], {
      encoding: 'utf8',
    });
    assert.equal(restore.status, 0, restore.stderr);
    const port2 = await freePort();
    const again = await startChild(port2, restored);
    const client2 = ourClient(`127.0.0.1:${port2}`);
    const s = await unaryCall(client2.getSession.bind(client2), { sessionId: 'bk' });
    assert.equal(s.files[0]?.text, 'kept\n');
    client2.close();
    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
  });
});

describe('storage failures', () => {
  it('answers UNAVAILABLE when the store cannot commit, applies nothing, and takes the retry', async () => {
    const { MemoryStore } = await import('../src/store/memory/memory-store.js');
    const store = new MemoryStore();
    let failing = false;
    const realAppend = store.append.bind(store);
    store.append = (...args) =>
      failing ? Promise.reject(new Error('SQLITE_FULL: database or disk is full')) : realAppend(...args);
    const server = await startTestServer({ logLevel: 'warn' }, { store });
    const client = ourClient(server.address);
    await openReview(client, 'full', [{ path: 'f', text: 'abc' }]);
    const a = joinSession(client, 'full', 'a', { clientId: 'a1' });
    const b = joinSession(client, 'full', 'b');
    await a.got.waitFor(isCase('welcome'), 'welcome');
    await b.got.waitFor(isCase('welcome'), 'welcome');
    const edit = {
      sessionId: '',
      timestamp: 0,
      userId: '',
      sequence: 0,
      clientId: '',
      clientMessageId: 'e1',
      payload: {
        $case: 'edit' as const,
        value: {
          filePath: 'f',
          lineNumber: 0,
          content: '',
          version: 0,
          operations: [{ kind: { $case: 'insert' as const, value: 'X' } }],
        },
      },
    };
    failing = true;
    a.call.write(edit);
    const refused = await a.got.waitFor(isCase('error'), 'the refusal');
    const { decodeStatus } = await import('./helpers/status-details.js');
    const status = decodeStatus(refused.payload.value.status!);
    assert.equal(status.code, 14);
    assert.equal(status.errorInfo?.reason, 'STORE_UNAVAILABLE');
    assert.ok(status.retryInfo);
    const s1 = await unaryCall(client.getSession.bind(client), { sessionId: 'full' });
    assert.equal(s1.files[0]?.text, 'abc', 'nothing applied');
    assert.ok(!b.got.messages.some(isCase('edit')), 'nothing broadcast');
    failing = false;
    a.call.write(edit);
    const ack = await a.got.waitFor(isCase('ack'), 'the retry is acknowledged');
    assert.equal(ack.payload.value.sequence, 2);
    await b.got.waitFor(isCase('edit'), 'and broadcast');
    const s2 = await unaryCall(client.getSession.bind(client), { sessionId: 'full' });
    assert.equal(s2.files[0]?.text, 'Xabc');
    a.call.end();
    b.call.end();
    client.close();
    await server.shutdown(500);
  });
});
