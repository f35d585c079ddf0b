// The terminal commands, driven as a person would: `demo` shows live traffic and stops cleanly on
// Ctrl-C; `join` shows the file and others' edits, and takes typed comments and line edits.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { LiveReviewClient } from '../src/client/index.js';
import { openReview } from './helpers/clients.js';
import { serverFixture } from './helpers/server.js';

const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));

function run(args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stdout += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const waitFor = async (pattern: RegExp, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(stdout)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${stdout}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, exited, waitFor, output: () => stdout };
}

describe('livereview demo', () => {
  it('shows scripted reviewers editing, commenting and resolving, then stops by itself', async () => {
    const demo = run(['demo', '--run-for', '6000']);
    assert.equal(await demo.exited, 0);
    const out = demo.output();
    assert.match(out, /join demo --user you --target 127\.0\.0\.1:\d+/);
    assert.match(out, /\[comment\] grace create c\d+ on src\/total\.ts:4: Prices are floats/);
    assert.match(
      out,
      /\[edit\] ada src\/total\.ts v\d+ line 4: {5}sum \+= Math\.round\(item\.price \* 100\);/,
    );
    assert.match(out, /\[comment\] grace resolve c\d+ .*\(resolved\)/);
    assert.match(out, /demo stopped/);
  });

  it('stops cleanly on Ctrl-C', async () => {
    const demo = run(['demo']);
    await demo.waitFor(/\[edit\] ada/);
    demo.child.kill('SIGINT');
    assert.equal(await demo.exited, 0);
    assert.match(demo.output(), /demo stopped/);
  });
});

describe('livereview join', () => {
  const fx = serverFixture();

  it('shows the file and live edits, and sends what the person types', async () => {
    await openReview(fx.client, 'term', [{ path: 'app.py', text: 'print("hi")\nx = 1\n' }]);
    const join = run(['join', 'term', '--user', 'bob', '--target', fx.server.address, '--run-for', '8000']);
    await join.waitFor(/joined term as bob/);
    await join.waitFor(/ {3}2 │ x = 1/);
    const alice = new LiveReviewClient({ targets: [fx.server.address], sessionId: 'term', userId: 'alice' });
    await alice.connect();
    await join.waitFor(/\[presence\] alice is joined/);
    alice.editLine('app.py', 2, 'x = 2');
    await join.waitFor(/\[edit\] alice app\.py v1 line 2: x = 2/);
    join.child.stdin.write('c 2 why two?\n');
    await join.waitFor(/\[you\] commented on app\.py:2/);
    join.child.stdin.write('e 1 print("hello")\n');
    await join.waitFor(/\[you\] replaced app\.py:1/);
    const deadline = Date.now() + 10_000;
    while (alice.file('app.py')!.text !== 'print("hello")\nx = 2\n' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(alice.file('app.py')!.text, 'print("hello")\nx = 2\n', "bob's line edit reached alice");
    assert.deepEqual(
      alice.comments().map((c) => [c.authorId, c.line, c.text]),
      [['bob', 2, 'why two?']],
    );
    join.child.stdin.write('q\n');
    assert.equal(await join.exited, 0);
    alice.close();
  });
});
