// Exactly-once for client message ids, however much the server remembers (src/core/dedupe.ts): a
// resend is acknowledged with its original commit and never applied twice — older than the
// window of recent acks, older than the 10,000 messages the window held before it was bounded per
// client, after the client was idle past the grace period, after a restart — while a message that
// was never committed is applied even when its number is below the client's latest.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { describe, it } from 'node:test';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import type { Clock } from '../src/core/clock.js';
import { systemClock } from '../src/core/clock.js';
import type { Store } from '../src/core/store.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { isCase, joinSession, openReview, ourClient, readWholeSession } from './helpers/clients.js';
import { serverFixture, startTestServer } from './helpers/server.js';

type Stream = ReturnType<typeof joinSession>;

/** An edit inserting `text` at the start of f.ts, based on `version`. */
const edit = (id: string, version: number, text = 'x\n') =>
  SessionMessage.fromPartial({
    clientMessageId: id,
    payload: {
      $case: 'edit',
      value: { filePath: 'f.ts', version, operations: [{ kind: { $case: 'insert', value: text } }] },
    },
  });

interface Ack {
  sequence: number;
  version: number;
  duplicate: boolean;
}

/** Waits for the ack (or the refusal) of message `id`, looking only at messages from `from` on. */
async function answerTo(s: Stream, id: string, from = 0): Promise<Ack | { refused: string }> {
  const m = await s.got.waitFor(
    (m) =>
      (isCase('ack')(m) && m.payload.value.clientMessageId === id) ||
      (isCase('error')(m) && m.payload.value.clientMessageId === id),
    `the answer to ${id}`,
    30_000,
    from,
  );
  if (isCase('ack')(m)) return m.payload.value;
  return { refused: isCase('error')(m) ? (m.payload.value.status?.message ?? '') : '' };
}

async function ackOf(s: Stream, id: string, from = 0): Promise<Ack> {
  const a = await answerTo(s, id, from);
  assert.ok(!('refused' in a), `${id} acknowledged, not refused (${JSON.stringify(a)})`);
  return a;
}

/** Sends edits `ids` (this client the only writer, so each is based on the version before it) in
 * chunks, and returns their acks. */
async function sendEdits(s: Stream, ids: string[], firstVersion: number): Promise<Map<string, Ack>> {
  const acks = new Map<string, Ack>();
  for (let start = 0; start < ids.length; start += 500) {
    const from = s.got.messages.length;
    const chunk = ids.slice(start, start + 500);
    chunk.forEach((id, i) => s.call.write(edit(id, firstVersion + start + i)));
    const last = await ackOf(s, chunk.at(-1)!, from);
    acks.set(chunk.at(-1)!, last);
    for (const m of s.got.messages.slice(from))
      if (isCase('ack')(m)) acks.set(m.payload.value.clientMessageId, m.payload.value);
  }
  return acks;
}

async function join(
  client: ReturnType<typeof ourClient>,
  sessionId: string,
  user: string,
  resumeAfter?: number,
) {
  const s = joinSession(client, sessionId, user, {
    clientId: `${user}-laptop`,
    ...(resumeAfter !== undefined && { resumeAfter }),
  });
  await s.got.waitFor(isCase('welcome'), 'welcome');
  return s;
}

/** A store that counts the lookups of earlier messages by their origin. */
function countingStore(): { store: Store; lookups: () => number } {
  let lookups = 0;
  const inner = new MemoryStore();
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'findByOrigin') {
        return (...args: Parameters<Store['findByOrigin']>) => {
          lookups++;
          return target.findByOrigin(...args);
        };
      }
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, lookups: () => lookups };
}

describe('exactly-once for client message ids', () => {
  const fx = serverFixture({ logLevel: 'warn' });

  it('acknowledges a resend older than the window and than 10,000 messages with its original commit, and never applies it twice', async () => {
    await openReview(fx.client, 'dd-1', [{ path: 'f.ts', text: '' }]);
    const first = await join(fx.client, 'dd-1', 'alice');
    const N = 10_300;
    const ids = Array.from({ length: N }, (_, i) => `alice-laptop:${i + 1}`);
    const acks = await sendEdits(first, ids, 0);
    assert.equal(acks.size, N, 'every edit acknowledged');
    assert.ok([...acks.values()].every((a) => !a.duplicate));
    const head = acks.get(ids.at(-1)!)!.sequence;
    first.call.cancel();

    // The acks were lost (say): the client resumes and resends — the oldest, one from the middle,
    // one just older than the recent window, and the newest.
    const again = await join(fx.client, 'dd-1', 'alice', head);
    for (const id of [ids[0]!, ids[5_000]!, ids[N - 100]!, ids[N - 1]!]) {
      const version = Number(id.split(':')[1]) - 1;
      const from = again.got.messages.length;
      again.call.write(edit(id, version));
      const dup = await ackOf(again, id, from);
      assert.deepEqual(
        { sequence: dup.sequence, version: dup.version, duplicate: dup.duplicate },
        { ...pick(acks.get(id)!), duplicate: true },
        `${id}: the original commit, as a duplicate`,
      );
    }
    // A new message after all that is applied.
    const from = again.got.messages.length;
    again.call.write(edit(`alice-laptop:${N + 1}`, N));
    const next = await ackOf(again, `alice-laptop:${N + 1}`, from);
    assert.deepEqual(pick(next), { sequence: head + 1, version: N + 1 });
    const state = await readWholeSession(fx.client, 'dd-1');
    assert.equal(fileText(state), 'x\n'.repeat(N + 1), 'each edit applied once');
    again.call.end();
  });

  it('also for message ids that end in no number', async () => {
    await openReview(fx.client, 'dd-2', [{ path: 'f.ts', text: '' }]);
    const s = await join(fx.client, 'dd-2', 'bob');
    const ids = Array.from({ length: 300 }, (_, i) => `note-${i}-${String.fromCharCode(97 + (i % 26))}`);
    const acks = await sendEdits(s, ids, 0);
    for (const id of [ids[0]!, ids[150]!, ids[299]!]) {
      const from = s.got.messages.length;
      s.call.write(edit(id, 0));
      const dup = await ackOf(s, id, from);
      assert.equal(dup.duplicate, true, `${id} is a duplicate`);
      assert.equal(dup.sequence, acks.get(id)!.sequence);
    }
    const state = await readWholeSession(fx.client, 'dd-2');
    assert.equal(fileText(state), 'x\n'.repeat(300));
    s.call.end();
  });

  it('applies a message numbered below the latest that was never committed (refused, then sent again)', async () => {
    await openReview(fx.client, 'dd-3', [{ path: 'f.ts', text: '' }]);
    const s = await join(fx.client, 'dd-3', 'carol');
    // carol-laptop:5 is refused (based on a version the file does not have yet)...
    s.call.write(edit('carol-laptop:5', 99));
    const refused = await answerTo(s, 'carol-laptop:5');
    assert.ok('refused' in refused, 'refused');
    // ...6 to 10 are committed, then 5 is sent again, right: it is applied, not taken for a resend.
    await sendEdits(
      s,
      ['carol-laptop:6', 'carol-laptop:7', 'carol-laptop:8', 'carol-laptop:9', 'carol-laptop:10'],
      0,
    );
    let from = s.got.messages.length;
    s.call.write(edit('carol-laptop:5', 5, 'five\n'));
    const five = await ackOf(s, 'carol-laptop:5', from);
    assert.equal(five.duplicate, false);
    assert.equal(five.version, 6);
    // The same after more messages than the window of recent acks holds: 3 was never sent.
    await sendEdits(
      s,
      Array.from({ length: 200 }, (_, i) => `carol-laptop:${11 + i}`),
      6,
    );
    from = s.got.messages.length;
    s.call.write(edit('carol-laptop:3', 206, 'three\n'));
    const three = await ackOf(s, 'carol-laptop:3', from);
    assert.deepEqual(
      { duplicate: three.duplicate, version: three.version },
      { duplicate: false, version: 207 },
    );
    from = s.got.messages.length;
    s.call.write(edit('carol-laptop:5', 5, 'five\n'));
    assert.equal((await ackOf(s, 'carol-laptop:5', from)).duplicate, true, 'and 5 is now a resend');
    const text = fileText(await readWholeSession(fx.client, 'dd-3'));
    assert.equal(text.split('five\n').length - 1, 1, 'five once');
    assert.equal(text.split('three\n').length - 1, 1, 'three once');
    s.call.end();
  });
});

describe('what the server forgets is answered from the log', () => {
  it('a client idle past the grace period: its resend is still a duplicate, its new messages need no lookup', async () => {
    let offset = 0;
    const clock: Clock = { ...systemClock, now: () => systemClock.now() + offset };
    const { store, lookups } = countingStore();
    const server = await startTestServer({ logLevel: 'warn' }, { clock, store });
    const client = ourClient(server.address);
    try {
      await openReview(client, 'idle', [{ path: 'f.ts', text: '' }]);
      const dana = await join(client, 'idle', 'dana');
      const erin = await join(client, 'idle', 'erin');
      const first = await sendEdits(dana, ['dana-laptop:1', 'dana-laptop:2'], 0);
      // In a session this instance has seen from its start, new messages are never looked up.
      assert.equal(lookups(), 0, 'no lookups for new messages');

      offset += 11 * 60_000; // dana is idle for 11 minutes; erin's edit lets the server notice
      await sendEdits(erin, ['erin-laptop:1'], 2);
      let from = dana.got.messages.length;
      dana.call.write(edit('dana-laptop:1', 0));
      const dup = await ackOf(dana, 'dana-laptop:1', from);
      assert.deepEqual(
        { sequence: dup.sequence, duplicate: dup.duplicate },
        { sequence: first.get('dana-laptop:1')!.sequence, duplicate: true },
      );
      assert.equal(lookups(), 1, 'the forgotten ack came from the log');
      from = dana.got.messages.length;
      dana.call.write(edit('dana-laptop:3', 3));
      assert.equal((await ackOf(dana, 'dana-laptop:3', from)).duplicate, false);
      assert.equal(lookups(), 1, 'a number above the client\u2019s latest is new without a lookup');
      assert.equal(fileText(await readWholeSession(client, 'idle')), 'x\n'.repeat(4));
      dana.call.end();
      erin.call.end();
    } finally {
      client.close();
      await server.shutdown(500);
    }
  });

  it('after a restart: resends are duplicates, new messages are applied', async () => {
    const data = mkdtempSync(joinPath(tmpdir(), 'lr-dedupe-'));
    try {
      let server = await startTestServer({ logLevel: 'warn', data });
      let client = ourClient(server.address);
      await openReview(client, 'restart', [{ path: 'f.ts', text: '' }]);
      const s = await join(client, 'restart', 'fay');
      const ids = Array.from({ length: 100 }, (_, i) => `fay-laptop:${i + 1}`);
      const acks = await sendEdits(s, ids, 0);
      s.call.cancel();
      client.close();
      await server.shutdown(500);

      server = await startTestServer({ logLevel: 'warn', data });
      client = ourClient(server.address);
      try {
        const again = await join(client, 'restart', 'fay', acks.get(ids.at(-1)!)!.sequence);
        for (const id of [ids[0]!, ids[99]!]) {
          const from = again.got.messages.length;
          again.call.write(edit(id, 0));
          const dup = await ackOf(again, id, from);
          assert.deepEqual(pick(dup), pick(acks.get(id)!));
          assert.equal(dup.duplicate, true);
        }
        const from = again.got.messages.length;
        again.call.write(edit('fay-laptop:101', 100));
        assert.equal((await ackOf(again, 'fay-laptop:101', from)).version, 101);
        assert.equal(fileText(await readWholeSession(client, 'restart')), 'x\n'.repeat(101));
        again.call.end();
      } finally {
        client.close();
        await server.shutdown(500);
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

function fileText(state: { files: { path: string; text: string }[] }): string {
  return state.files.find((f) => f.path === 'f.ts')!.text;
}

function pick(a: Ack): { sequence: number; version: number } {
  return { sequence: a.sequence, version: a.version };
}

describe('a client id reused by a new SDK instance', () => {
  it("is not mistaken for the old instance's resends: every comment of both is kept", async () => {
    const { LiveReviewClient } = await import('../src/client/index.js');
    const server = await startTestServer({ logLevel: 'warn' });
    const admin = ourClient(server.address);
    try {
      await openReview(admin, 'fixed-id', [{ path: 'f', text: 'a\n' }]);
      // An app that names its clients (a user's name, a tab's stored id) and restarts.
      for (const run of [1, 2]) {
        const c = new LiveReviewClient({
          targets: [server.address],
          sessionId: 'fixed-id',
          userId: 'ann',
          clientId: 'ann-laptop',
        });
        await c.connect();
        await c.comment('f', 1, `first of run ${run}`);
        await c.comment('f', 1, `second of run ${run}`);
        c.close();
      }
      const state = await readWholeSession(admin, 'fixed-id');
      assert.deepEqual(state.comments.map((c) => c.text).sort(), [
        'first of run 1',
        'first of run 2',
        'second of run 1',
        'second of run 2',
      ]);
    } finally {
      admin.close();
      await server.shutdown(500);
    }
  });
});
