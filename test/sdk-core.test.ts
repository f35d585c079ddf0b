// The SDK's browser-safe entry (@livereview/client/core): its whole import graph bundles for a
// browser with no Node built-in and no gRPC library, and the bundle runs where only web globals
// exist, over a half-duplex transport (Subscribe-style stream + Submit-style sends, as a browser's
// Connect transport is).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { build } from 'esbuild';
import fc from 'fast-check';
import { DocumentState } from '../src/client/core/document-state.js';
import { applyOp, checkOp, codePointLength, type TextOp } from '../src/ot/text.js';
import {
  AckSchema,
  SessionMessageSchema,
  SyncMode,
  type Ack,
  type SessionMessage,
} from '../src/gen/es/codereview/v1/codereview_pb.js';
import type * as Core from '../src/client/core/index.js';
import { headOf } from './helpers/head-of.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = join(root, 'packages/client/dist/client/core/index.js');

/** The core bundled as a browser script, evaluated in a context holding web globals only. */
async function loadInSandbox(): Promise<typeof Core> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'LiveReviewCore',
    write: false,
    logLevel: 'silent',
  });
  const context = vm.createContext({
    console,
    setTimeout,
    clearTimeout,
    queueMicrotask,
    TextEncoder,
    TextDecoder,
    AbortController,
    AbortSignal,
    crypto: globalThis.crypto,
  });
  vm.runInContext(out.outputFiles[0]!.text, context);
  return (context as unknown as { LiveReviewCore: typeof Core }).LiveReviewCore;
}

const msg = (init: Parameters<typeof create<typeof SessionMessageSchema>>[1]) =>
  create(SessionMessageSchema, init);

/** A scripted half-duplex server: the test pushes what the stream yields and answers sends. */
class ScriptedTransport {
  readonly sent: SessionMessage[] = [];
  readonly joins: Core.JoinParams[] = [];
  private readonly items: SessionMessage[] = [];
  private wake: (() => void) | undefined;
  answer: (m: SessionMessage) => Promise<Ack> = () => new Promise(() => undefined);

  push(...ms: SessionMessage[]): void {
    this.items.push(...ms);
    this.wake?.();
  }

  open(join: Core.JoinParams): Core.SessionStream {
    this.joins.push(join);
    const next = async (): Promise<SessionMessage> => {
      for (;;) {
        const m = this.items.shift();
        if (m) return m;
        await new Promise<void>((r) => (this.wake = r));
      }
    };
    return {
      messages: {
        async *[Symbol.asyncIterator]() {
          for (;;) yield await next();
        },
      },
      send: (m) => {
        this.sent.push(m);
        return this.answer(m);
      },
      close: () => undefined,
    };
  }

  openReview = () => Promise.reject(new Error('not scripted'));
  getSession = () => Promise.reject(new Error('not scripted'));
  listComments = () => Promise.reject(new Error('not scripted'));
  getFileAt = () => Promise.reject(new Error('not scripted'));
  exportReview = () => Promise.reject(new Error('not scripted'));
  close = () => undefined;
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), `timed out waiting for ${what}`);
}

describe('the SDK core (@livereview/client/core)', () => {
  it('bundles for a browser with no Node built-in and no gRPC library in its import graph', async () => {
    const out = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    assert.ok(
      inputs.some((p) => p.includes('ot-text-unicode')) && inputs.some((p) => p.includes('@bufbuild')),
      `the graph was walked into dependencies: ${inputs.length} files`,
    );
    assert.deepEqual(
      inputs.filter((p) => /@grpc|node:|src\/core\//.test(p)),
      [],
      'no gRPC library, no Node built-in, no server code',
    );
    const imports = Object.values(out.metafile.inputs).flatMap((i) => i.imports);
    assert.deepEqual(
      imports.filter((i) => i.external || i.path.startsWith('node:')).map((i) => i.path),
      [],
    );
  });

  it('runs with web globals only over a half-duplex transport whose acks overtake its stream', async () => {
    const core = await loadInSandbox();
    const transport = new ScriptedTransport();
    const client = new core.SessionClient({ transport, sessionId: 's', userId: 'ann', clientId: 'ann-1' });
    const edits: Core.RemoteEdit[] = [];
    client.on('edit', (e) => edits.push(e));
    transport.push(
      msg({ payload: { case: 'welcome', value: { headSequence: 1n, sync: SyncMode.SNAPSHOT } } }),
      msg({
        payload: {
          case: 'snapshot',
          value: { sequence: 1n, index: 0, count: 1, files: [{ path: 'a.ts', version: 1, text: 'hello\n' }] },
        },
      }),
    );
    await client.connect();
    assert.equal(client.file('a.ts')?.text, 'hello\n');

    // Our edit is committed as event 3, after someone else's event 2: Submit answers first.
    transport.answer = async (m) => {
      setTimeout(() => {
        transport.push(
          msg({
            sequence: 2n,
            userId: 'bob',
            clientId: 'bob-1',
            payload: {
              case: 'edit',
              value: { filePath: 'a.ts', version: 2, operations: [{ kind: { case: 'insert', value: 'A' } }] },
            },
          }),
          msg({
            sequence: 3n,
            userId: 'ann',
            clientId: 'ann-1',
            clientMessageId: m.clientMessageId,
            payload: {
              case: 'edit',
              value: {
                filePath: 'a.ts',
                version: 3,
                operations: [
                  { kind: { case: 'retain', value: 6 } },
                  { kind: { case: 'insert', value: '!' } },
                ],
              },
            },
          }),
        );
      }, 20);
      return create(AckSchema, {
        clientMessageId: m.clientMessageId,
        sequence: 3n,
        version: 3,
        filePath: 'a.ts',
      });
    };
    client.edit('a.ts', [5, '!']);
    assert.equal(client.file('a.ts')?.text, 'hello!\n', 'a local edit shows at once');
    await until('the edit acknowledged', () => client.synced && client.lastSequence === 3);
    assert.deepEqual(headOf(client.file('a.ts')), { text: 'Ahello!\n', version: 3 });
    assert.deepEqual(
      edits.map((e) => [e.userId, e.version]),
      [['bob', 2]],
      "bob's edit once, our echo not as someone's edit",
    );
    assert.equal(transport.sent.length, 1);

    // Submit refuses the next edit for good: it is undone and the user is told.
    transport.answer = () => Promise.reject(new core.LiveReviewCallError(7, 'ROLE_FORBIDS', 'viewers watch'));
    const rolledBack = new Promise<Core.RolledBackEdit>((resolve) => client.once('rollback', resolve));
    client.edit('a.ts', [{ d: 1 }]);
    assert.equal(client.file('a.ts')?.text, 'hello!\n');
    const r = await rolledBack;
    assert.deepEqual([r.error.code, r.error.reason, r.error.message], [7, 'ROLE_FORBIDS', 'viewers watch']);
    assert.deepEqual(headOf(client.file('a.ts')), { text: 'Ahello!\n', version: 3 });
    assert.equal(client.synced, true);
    client.close();
  });
});

describe('the SDK core on a message it cannot apply', () => {
  it('resyncs from a fresh snapshot instead of failing', async () => {
    const core = await loadInSandbox();
    const transport = new ScriptedTransport();
    const client = new core.SessionClient({
      transport,
      sessionId: 's',
      userId: 'ann',
      backoff: { baseDelayMs: 1, maxDelayMs: 5 },
    });
    const snapshot = (text: string, sequence: bigint) => [
      msg({ payload: { case: 'welcome', value: { headSequence: sequence, sync: SyncMode.SNAPSHOT } } }),
      msg({
        payload: {
          case: 'snapshot',
          value: { sequence, index: 0, count: 1, files: [{ path: 'a.ts', version: 1, text }] },
        },
      }),
    ];
    transport.push(...snapshot('hi\n', 1n));
    await client.connect();
    // An edit that reaches past the end of the file as this client has it.
    transport.push(
      msg({
        sequence: 2n,
        userId: 'bob',
        payload: {
          case: 'edit',
          value: {
            filePath: 'a.ts',
            version: 2,
            operations: [{ kind: { case: 'retain', value: 50 } }, { kind: { case: 'insert', value: '!' } }],
          },
        },
      }),
    );
    await until('a second join', () => transport.joins.length === 2);
    assert.equal(transport.joins[1]!.resumeAfterSequence, undefined, 'a snapshot, not a resume');
    transport.push(...snapshot('the server text\n', 2n));
    await until('the snapshot applied', () => client.file('a.ts')?.text === 'the server text\n');
    assert.equal(client.state, 'connected');
    client.close();
  });
});

/** A random op on a document of `length` code points. */
function arbOp(length: number): fc.Arbitrary<TextOp> {
  const step = fc.record({
    kind: fc.constantFrom('retain', 'insert', 'delete'),
    n: fc.integer({ min: 1, max: 4 }),
    text: fc.constantFrom('x', 'yz', '\n', '😀', 'é'),
  });
  return fc.array(step, { maxLength: 6 }).map((steps) => {
    const op: TextOp = [];
    let left = length;
    for (const s of steps) {
      if (s.kind === 'insert') op.push(s.text);
      else if (left > 0) {
        const n = Math.min(s.n, left);
        left -= n;
        op.push(s.kind === 'retain' ? n : { d: n });
      }
    }
    const checked = checkOp(op, length);
    return 'op' in checked ? checked.op : [];
  });
}

describe('client OT state (DocumentState)', () => {
  it('undoes a refused edit and keeps the edits typed after it, whatever arrived meanwhile', () => {
    const ids = (() => {
      let n = 0;
      return () => `m${++n}`;
    })();
    const scenario = fc
      .string({ unit: fc.constantFrom('a', 'b', '\n', '😀'), maxLength: 12 })
      .chain((base) =>
        arbOp(codePointLength(base)).chain((remote) =>
          arbOp(codePointLength(base)).chain((refused) =>
            arbOp(codePointLength(applyOp(base, refused))).map((typed) => ({ base, remote, refused, typed })),
          ),
        ),
      );
    fc.assert(
      fc.property(scenario, ({ base, remote, refused, typed }) => {
        fc.pre(refused.length > 0);
        const doc = new DocumentState('f', base, 1);
        doc.applyLocal(refused, ids);
        const typedAfter = typed.length > 0;
        doc.applyLocal(typed, ids);
        doc.applyRemote(remote, 2);
        const { next } = doc.reject(ids);
        const server = applyOp(base, remote);
        assert.equal(doc.serverText, server);
        // What is left to send is exactly what the local text holds beyond the server's.
        assert.equal(doc.text, next ? applyOp(server, next.op) : server);
        assert.equal(doc.synced, !next);
        if (!typedAfter) assert.equal(doc.text, server, 'nothing typed after: back to the server text');
        for (const c of typed) {
          if (typeof c === 'string') assert.ok(doc.text.includes(c), `typed text ${JSON.stringify(c)} kept`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
