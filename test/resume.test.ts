// A client that drops and reconnects with its last sequence number receives exactly what it
// missed, in order, then live; resent client message ids are never applied twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { isCase, joinSession, openReview, unaryCall } from './helpers/clients.js';
import { TestEditor } from './helpers/editor.js';
import { serverFixture } from './helpers/server.js';

describe('resume', () => {
  const fx = serverFixture({ logLevel: 'warn' });

  it('delivers every missed event exactly once and in order, then live, and converges', async () => {
    await openReview(fx.client, 'res-1', [{ path: 'f.ts', text: 'start\n' }]);
    const alice = new TestEditor(fx.client, 'res-1', 'alice', 'alice');
    const bob = new TestEditor(fx.client, 'res-1', 'bob', 'bob');
    const carol = new TestEditor(fx.client, 'res-1', 'carol', 'carol');
    await Promise.all([alice.ready, bob.ready, carol.ready]);
    alice.edit('f.ts', (t) => [t.length, 'a1\n']);
    await carol.settled('f.ts', 1);
    const dropAt = carol.lastSeq;
    carol.drop();

    for (let i = 0; i < 20; i++) {
      const e = i % 2 ? alice : bob;
      e.edit('f.ts', () => [`${e.clientId}${i} `]);
      if (i % 5 === 0)
        e.write({
          clientMessageId: `c${i}`,
          payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: `note ${i}` } },
        });
      await e.settled('f.ts', e.docs.get('f.ts')!.version + (e.docs.get('f.ts')!.synced ? 0 : 1));
    }
    const state = await unaryCall(fx.client.getSession.bind(fx.client), { sessionId: 'res-1' });
    assert.ok(state.headSequence > dropAt + 20);

    await carol.reconnect(fx.client);
    const welcome = await carol.got.waitFor(isCase('welcome'), 'welcome');
    assert.equal(welcome.payload.value.sync, 2, 'SYNC_MODE_RESUME');
    await carol.got.waitFor((m) => m.sequence === state.headSequence, 'the last missed event');
    const replayed = carol.got.messages.filter((m) => m.sequence > 0).map((m) => m.sequence);
    assert.deepEqual(
      replayed,
      range(dropAt + 1, state.headSequence),
      'exactly the missed events, once, in order',
    );

    // Then live.
    alice.edit('f.ts', () => ['live ']);
    await carol.got.waitFor((m: SessionMessage) => m.sequence === state.headSequence + 1, 'a live event');
    const final = await unaryCall(fx.client.getSession.bind(fx.client), { sessionId: 'res-1' });
    const file = final.files[0]!;
    await Promise.all([alice, bob, carol].map((e) => e.settled('f.ts', file.version)));
    for (const e of [alice, bob, carol]) assert.equal(e.text('f.ts'), file.text, `${e.clientId} converged`);
    for (const e of [alice, bob, carol]) e.close();
  });

  it('acks a resent message with its original sequence number and never applies it twice', async () => {
    await openReview(fx.client, 'res-2', [{ path: 'f.ts', text: 'x' }]);
    const first = joinSession(fx.client, 'res-2', 'dana', { clientId: 'dana-laptop' });
    await first.got.waitFor(isCase('welcome'), 'welcome');
    const edit = SessionMessage.fromPartial({
      clientMessageId: 'dana-1',
      payload: {
        $case: 'edit',
        value: { filePath: 'f.ts', version: 0, operations: [{ kind: { $case: 'insert', value: 'Y' } }] },
      },
    });
    first.call.write(edit);
    const ack = await first.got.waitFor(isCase('ack'), 'ack');
    assert.equal(ack.payload.value.duplicate, false);
    first.call.cancel();

    // The fx.client did not trust that ack (say it was lost) and resends on a new stream.
    const second = joinSession(fx.client, 'res-2', 'dana', { clientId: 'dana-laptop', resumeAfter: 0 });
    second.call.write(edit);
    const again = await second.got.waitFor(
      (m) => isCase('ack')(m) && m.payload.value.duplicate,
      'the duplicate ack',
    );
    assert.equal(isCase('ack')(again) && again.payload.value.sequence, ack.payload.value.sequence);
    // During its resume, its own event came back as an ack, not as someone else's edit.
    assert.ok(!second.got.messages.some(isCase('edit')), 'its own edit is not echoed as an edit');
    const s = await unaryCall(fx.client.getSession.bind(fx.client), { sessionId: 'res-2' });
    assert.equal(s.files[0]!.text, 'Yx', 'applied once');
    assert.equal(s.headSequence, 2);
    second.call.end();
  });

  it('sends a snapshot, saying why, when the resume position is ahead of the log', async () => {
    await openReview(fx.client, 'res-3', [{ path: 'f.ts', text: 'z' }]);
    const c = joinSession(fx.client, 'res-3', 'erin', { resumeAfter: 99 });
    const welcome = await c.got.waitFor(isCase('welcome'), 'welcome');
    assert.equal(welcome.payload.value.sync, 1, 'SYNC_MODE_SNAPSHOT');
    assert.match(welcome.payload.value.syncReason, /ahead/);
    const snap = await c.got.waitFor(isCase('snapshot'), 'snapshot');
    assert.equal(snap.payload.value.files[0]!.text, 'z');
    c.call.end();
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
