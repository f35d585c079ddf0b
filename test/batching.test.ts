// What arrives together is committed together: a session's mailbox takes its batch once the event
// loop has read what came with the first command (Clock.whenSettled), so edits that reach the
// server in one burst cost one commit, not one for the first and another for the rest. Here the
// clock's whenSettled is held by the test, so what the batch holds does not depend on timing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock, type Clock } from '../src/core/clock.js';
import type { Engine } from '../src/core/engine.js';
import { LiveReviewError } from '../src/core/errors.js';
import type { Origin } from '../src/core/model.js';
import { testEngine } from './helpers/engine.js';

/** A clock whose batches gather until the test lets them go. */
class HeldGathering {
  holding = false;
  readonly held: (() => void)[] = [];
  readonly clock: Clock = {
    ...systemClock,
    whenSettled: (_pending, take) => (this.holding ? this.held.push(take) : take()),
  };
}

function engineWith(clock: Clock, commits: number[]): Engine {
  return testEngine({ clock, hooks: { committed: (_sessionId, events) => commits.push(events) } });
}

const origin = (user: string, message: string): Origin => ({
  userId: user,
  clientId: `${user}-laptop`,
  clientMessageId: message,
});

/** Lets pending work (loading the session, reaching its mailbox) run. */
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('batching: what arrives together is committed together', () => {
  it('commits edits from several participants that arrive while a batch gathers in one commit', async () => {
    const gathering = new HeldGathering();
    const commits: number[] = [];
    const engine = engineWith(gathering.clock, commits);
    try {
      await engine.openReview('s', origin('ann', 'open'), [{ path: 'a.txt', text: 'hello\n' }], 'author');
      commits.length = 0;
      gathering.holding = true;
      const acks = ['bob', 'cy', 'dee'].map((user, i) =>
        engine.submitUnary(
          's',
          origin(user, 'm1'),
          { kind: 'edit', path: 'a.txt', baseVersion: 0, op: ['abc'[i]!] },
          'author',
        ),
      );
      await turns(5);
      assert.equal(gathering.held.length, 1, 'the first edit started a batch, which is gathering');
      assert.deepEqual(commits, [], 'nothing committed while it gathers');

      gathering.holding = false;
      gathering.held[0]!();
      const sequences = (await Promise.all(acks)).map((a) => a.sequence);
      assert.deepEqual(commits, [3], 'the three edits in one commit');
      assert.equal(new Set(sequences).size, 3, 'each edit has its own sequence number');
      const file = (await engine.getSession('s', { size: 10, token: '' })).files.find(
        (f) => f.path === 'a.txt',
      );
      assert.equal(file?.text.length, 'hello\n'.length + 3, 'every edit applied once');
      assert.equal(file?.version, 3);
    } finally {
      await engine.close(new LiveReviewError('SERVER_SHUTTING_DOWN', 'test over'));
    }
  });

  it('an edit that arrives alone is committed once the loop has settled, with no timer', async () => {
    const commits: number[] = [];
    const engine = engineWith(systemClock, commits);
    try {
      await engine.openReview('t', origin('ann', 'open'), [{ path: 'a.txt', text: '' }], 'author');
      commits.length = 0;
      const ack = await engine.submitUnary(
        't',
        origin('bob', 'm1'),
        { kind: 'edit', path: 'a.txt', baseVersion: 0, op: ['x'] },
        'author',
      );
      assert.equal(ack.duplicate, false);
      assert.deepEqual(commits, [1]);
    } finally {
      await engine.close(new LiveReviewError('SERVER_SHUTTING_DOWN', 'test over'));
    }
  });
});
