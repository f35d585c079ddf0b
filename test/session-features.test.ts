// Late joiners with chunked snapshots, presence IDLE/ACTIVE, cursors that follow edits, session
// capacity, and the half-duplex Subscribe + Submit pair.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage, type SubscribeResponse } from '../src/gen/codereview/v1/codereview.js';
import {
  Collector,
  isCase,
  joinSession,
  openReview,
  readWholeSession,
  unaryCall,
} from './helpers/clients.js';
import { decodeDetails } from './helpers/status-details.js';
import { serverFixture } from './helpers/server.js';

const MAX = 64 * 1024;

describe('session features', () => {
  const fx = serverFixture({
    logLevel: 'warn',
    maxMessageBytes: MAX,
    idleAfterMs: 300,
    maxParticipants: 3,
  });

  it('sends a late joiner a snapshot larger than the message size limit in chunks', async () => {
    await unaryCall(fx.client.openReview.bind(fx.client), {
      sessionId: 'big',
      userId: 'a',
      clientMessageId: 'o',
      files: [
        { path: 'big.txt', text: '' },
        { path: 'small.txt', text: 'hi' },
      ],
    });
    const a = joinSession(fx.client, 'big', 'a');
    await a.got.waitFor(isCase('welcome'), 'welcome');
    const piece = '0123456789abcdef😀\n'.repeat(2000); // ~40 KB of UTF-8 per edit
    for (let v = 0; v < 8; v++) {
      a.call.write(
        SessionMessage.fromPartial({
          clientMessageId: `b${v}`,
          payload: {
            $case: 'edit',
            value: {
              filePath: 'big.txt',
              version: v,
              operations: v
                ? [
                    { kind: { $case: 'retain', value: v * 2000 * 18 } },
                    { kind: { $case: 'insert', value: piece } },
                  ]
                : [{ kind: { $case: 'insert', value: piece } }],
            },
          },
        }),
      );
    }
    await a.got.waitFor((m) => isCase('ack')(m) && m.payload.value.version === 8, 'version 8');
    const late = joinSession(fx.client, 'big', 'late');
    const chunks: Extract<SessionMessage['payload'], { $case: 'snapshot' }>['value'][] = [];
    await late.got.waitFor((m) => {
      if (isCase('snapshot')(m)) chunks.push(m.payload.value);
      return isCase('snapshot')(m) && m.payload.value.index + 1 === m.payload.value.count;
    }, 'the last chunk');
    assert.ok(chunks.length > 5, `${chunks.length} chunks`);
    for (const c of chunks)
      assert.ok(
        SessionMessage.encode(
          SessionMessage.fromPartial({ payload: { $case: 'snapshot', value: c } }),
        ).finish().length < MAX,
        'each chunk fits',
      );
    const assembled = new Map<string, string>();
    for (const c of chunks)
      for (const f of c.files) assembled.set(f.path, (f.continued ? assembled.get(f.path)! : '') + f.text);
    const s = await readWholeSession(fx.client, 'big', { deadline: Date.now() + 5000 });
    assert.ok(s.files.length === 2);
    for (const f of s.files) assert.equal(assembled.get(f.path), f.text, `${f.path} reassembles`);
    a.call.end();
    late.call.end();
  });

  it('shows a quiet participant IDLE, and ACTIVE again when it acts', async () => {
    await openReview(fx.client, 'idle', [{ path: 'f', text: 'a\nb\n' }]);
    const a = joinSession(fx.client, 'idle', 'alice');
    const b = joinSession(fx.client, 'idle', 'bob');
    await a.got.waitFor(isCase('welcome'), 'welcome');
    const presence = (user: string, status: number) => (m: SessionMessage) =>
      isCase('presence')(m) && m.userId === user && m.payload.value.status === status;
    await a.got.waitFor(presence('bob', 2), 'bob IDLE');
    b.call.write(
      SessionMessage.fromPartial({
        payload: { $case: 'cursor', value: { filePath: 'f', line: 2, column: 1 } },
      }),
    );
    await a.got.waitFor(presence('bob', 1), 'bob ACTIVE');
    a.call.end();
    b.call.end();
  });

  it('moves cursors with edits and shows them to late joiners', async () => {
    await openReview(fx.client, 'cur', [{ path: 'f', text: 'one\ntwo\n' }]);
    const a = joinSession(fx.client, 'cur', 'alice');
    const b = joinSession(fx.client, 'cur', 'bob');
    await b.got.waitFor(isCase('welcome'), 'welcome');
    a.call.write(
      SessionMessage.fromPartial({
        payload: { $case: 'cursor', value: { filePath: 'f', line: 2, column: 3 } },
      }),
    );
    await b.got.waitFor(isCase('cursor'), "alice's cursor");
    b.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'e1',
        payload: {
          $case: 'edit',
          value: { filePath: 'f', version: 0, operations: [{ kind: { $case: 'insert', value: 'zero\n' } }] },
        },
      }),
    );
    await b.got.waitFor(isCase('ack'), 'ack');
    const late = joinSession(fx.client, 'cur', 'late');
    const welcome = await late.got.waitFor(isCase('welcome'), 'welcome');
    const cursor = welcome.payload.value.cursors.find((c) => c.userId === 'alice');
    assert.deepEqual(cursor?.position, { filePath: 'f', line: 3, column: 3, version: 1 });
    for (const c of [a, b, late]) c.call.end();
  });

  it('refuses a participant beyond the session limit with RESOURCE_EXHAUSTED and QuotaFailure', async () => {
    const joined = ['p1', 'p2', 'p3'].map((u) => joinSession(fx.client, 'full', u));
    for (const j of joined) await j.got.waitFor(isCase('welcome'), 'welcome');
    const extra = joinSession(fx.client, 'full', 'p4');
    const ended = await extra.got.waitForEnd();
    assert.equal(ended.code, grpc.status.RESOURCE_EXHAUSTED);
    const details = decodeDetails(ended.metadata);
    assert.equal(details?.errorInfo?.reason, 'SESSION_FULL');
    assert.match(details?.quotaFailure?.violations[0]?.description ?? '', /at most 3 participants/);
    assert.ok(details?.retryInfo);
    for (const j of joined) j.call.end();
  });

  it('serves browsers with Subscribe (from a position) and Submit (idempotent)', async () => {
    await openReview(fx.client, 'half', [{ path: 'f', text: 'x' }]);
    const sub = fx.client.subscribe({
      sessionId: 'half',
      userId: 'web',
      clientId: 'tab-1',
      resumeAfterSequence: 0,
    });
    const got = new Collector<SubscribeResponse>(sub);
    await got.waitFor((r) => r.message?.payload?.$case === 'welcome', 'welcome');
    await got.waitFor((r) => r.message?.sequence === 1, 'the opened file from the log');
    const submit = (id: string, text: string) =>
      unaryCall(fx.client.submit.bind(fx.client), {
        message: SessionMessage.fromPartial({
          sessionId: 'half',
          userId: 'web',
          clientId: 'tab-1',
          clientMessageId: id,
          payload: { $case: 'comment', value: { filePath: 'f', lineNumber: 1, text } },
        }),
      });
    const first = await submit('w1', 'from the browser');
    assert.equal(first.ack?.sequence, 2);
    const again = await submit('w1', 'from the browser');
    assert.deepEqual({ seq: again.ack?.sequence, dup: again.ack?.duplicate }, { seq: 2, dup: true });
    // Its own comment comes back on its Subscribe stream as an ack in order (not as a comment).
    const other = joinSession(fx.client, 'half', 'native');
    await other.got.waitFor(isCase('welcome'), 'welcome');
    other.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'n1',
        payload: { $case: 'comment', value: { filePath: 'f', lineNumber: 1, text: 'from native' } },
      }),
    );
    const seen = await got.waitFor((r) => r.message?.sequence === 3, "the native client's comment");
    assert.equal(seen.message?.payload?.$case, 'comment');
    const cursorAck = await unaryCall(fx.client.submit.bind(fx.client), {
      message: SessionMessage.fromPartial({
        sessionId: 'half',
        userId: 'web',
        clientId: 'tab-1',
        payload: { $case: 'cursor', value: { filePath: 'f', line: 1, column: 1 } },
      }),
    });
    assert.equal(cursorAck.ack?.sequence, 0, 'cursors are ephemeral');
    await other.got.waitFor((m) => isCase('cursor')(m) && m.userId === 'web', 'the browser cursor');
    sub.cancel();
    other.call.end();
  });
});

describe('presence under a burst of joins', () => {
  const WINDOW = 200;
  const fx = serverFixture({ logLevel: 'warn', maxParticipants: 50, presenceBatchMs: WINDOW });

  /** The roster a client builds from what it received: presence messages and roster updates. */
  function rosterOf(messages: SessionMessage[]): Map<string, number> {
    const roster = new Map<string, number>();
    const set = (id: string, status: number) => (status === 3 ? roster.delete(id) : roster.set(id, status));
    for (const m of messages) {
      if (m.payload?.$case === 'welcome')
        for (const p of m.payload.value.roster) set(p.participantId, p.status);
      if (m.payload?.$case === 'presence') set(m.payload.value.clientId, m.payload.value.status);
      if (m.payload?.$case === 'rosterUpdate')
        for (const p of m.payload.value.participants) set(p.participantId, p.status);
    }
    return roster;
  }

  it('sends clients that accept roster updates a few batches instead of a message per join, and every client the same roster', async () => {
    await openReview(fx.client, 'burst', [{ path: 'f', text: 'x\n' }]);
    const batched = joinSession(fx.client, 'burst', 'watcher', {
      clientId: 'batched',
      capabilities: ['ops', 'roster_updates'],
    });
    const single = joinSession(fx.client, 'burst', 'watcher', { clientId: 'single' });
    await batched.got.waitFor(isCase('welcome'), 'welcome (batched)');
    await single.got.waitFor(isCase('welcome'), 'welcome (single)');
    await new Promise((r) => setTimeout(r, WINDOW * 2));
    const from = { batched: batched.got.messages.length, single: single.got.messages.length };

    const joiners = Array.from({ length: 20 }, (_, i) =>
      joinSession(fx.client, 'burst', `u${i}`, { clientId: `j${i}` }),
    );
    await Promise.all(joiners.map((j) => j.got.waitFor(isCase('welcome'), 'welcome (joiner)')));
    const everyone = (messages: SessionMessage[]) => {
      const r = rosterOf(messages);
      return joiners.every((_, i) => r.has(`j${i}`));
    };
    await batched.got.waitFor(() => everyone(batched.got.messages), 'all 20 joiners (batched)');
    await single.got.waitFor(() => everyone(single.got.messages), 'all 20 joiners (single)');

    const updates = batched.got.messages.slice(from.batched).filter(isCase('rosterUpdate'));
    const presences = single.got.messages.slice(from.single).filter(isCase('presence'));
    assert.equal(batched.got.messages.slice(from.batched).filter(isCase('presence')).length, 0);
    assert.ok(presences.length >= 20, `one presence message per join: ${presences.length}`);
    assert.ok(updates.length < 10, `a few roster updates for 20 joins, got ${updates.length}`);
    // The welcome's roster, then the changes: both clients end knowing exactly who is here.
    const expected = new Set([...joiners.map((_, i) => `j${i}`), 'single', 'batched']);
    assert.deepEqual(new Set(rosterOf(batched.got.messages).keys()), expected);
    assert.deepEqual(new Set(rosterOf(single.got.messages).keys()), expected);

    // After a quiet window, a lone change goes out at once, alone.
    await new Promise((r) => setTimeout(r, WINDOW * 2));
    const before = batched.got.messages.length;
    joiners[0]!.call.end();
    const left = await batched.got.waitFor(
      (m) => isCase('rosterUpdate')(m) && m.payload.value.participants.some((p) => p.status === 3),
      'j0 LEFT',
      10_000,
      before,
    );
    assert.deepEqual(
      (left as SessionMessage & { payload: { $case: 'rosterUpdate' } }).payload.value.participants.map(
        (p) => [p.participantId, p.status],
      ),
      [['j0', 3]],
    );
    for (const c of [batched, single, ...joiners.slice(1)]) c.call.end();
  });
});
