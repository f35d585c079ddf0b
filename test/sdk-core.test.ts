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
import {
  AckSchema,
  SessionMessageSchema,
  SyncMode,
  type Ack,
  type SessionMessage,
} from '../src/gen/es/codereview/v1/codereview_pb.js';
import type * as Core from '../src/client/core/index.js';

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
  private readonly items: SessionMessage[] = [];
  private wake: (() => void) | undefined;
  answer: (m: SessionMessage) => Promise<Ack> = () => new Promise(() => undefined);

  push(...ms: SessionMessage[]): void {
    this.items.push(...ms);
    this.wake?.();
  }

  open(): Core.SessionStream {
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
    assert.deepEqual({ ...client.file('a.ts') }, { text: 'Ahello!\n', version: 3 });
    assert.deepEqual(
      edits.map((e) => [e.userId, e.version]),
      [['bob', 2]],
      "bob's edit once, our echo not as someone's edit",
    );
    assert.equal(transport.sent.length, 1);
    client.close();
  });
});
