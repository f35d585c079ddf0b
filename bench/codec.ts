// Encode/decode cost of a typical broadcast (an edit with operations) with the generated ts-proto
// code versus protobufjs reflection (what @grpc/proto-loader uses), and what the server does for
// it: the hand-written encoder (src/transport/hot-encoders.ts) against building the wire object and
// encoding it with ts-proto. Run: npm run bench:codec
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { LoggedEvent } from '../src/core/model.js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { outboundToWire } from '../src/transport/codec.js';
import { encodeEditEvent } from '../src/transport/hot-encoders.js';

const N = Number(process.env.N ?? 200_000);
const proto = fileURLToPath(new URL('../../proto/codereview/v1/codereview.proto', import.meta.url));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) =>
  target.startsWith('/') || target.startsWith('google/protobuf')
    ? target
    : fileURLToPath(new URL(`../../proto/${target}`, import.meta.url));
root.loadSync(proto, { keepCase: false });
const Reflected = root.lookupType('codereview.v1.SessionMessage');

const message = SessionMessage.fromPartial({
  sessionId: 'session-42',
  timestamp: Date.now(),
  userId: 'alice',
  sequence: 12345,
  clientMessageId: 'alice-laptop-991',
  clientId: 'alice-laptop',
  payload: {
    $case: 'edit',
    value: {
      filePath: 'src/server/main.ts',
      lineNumber: 120,
      content: '  const answer = compute(input, options);',
      version: 981,
      operations: [
        { kind: { $case: 'retain', value: 4120 } },
        { kind: { $case: 'insert', value: 'options' } },
        { kind: { $case: 'delete', value: 3 } },
      ],
    },
  },
});
const reflectedMessage = Reflected.fromObject({
  sessionId: 'session-42',
  timestamp: message.timestamp,
  userId: 'alice',
  sequence: 12345,
  clientMessageId: 'alice-laptop-991',
  clientId: 'alice-laptop',
  edit: {
    filePath: 'src/server/main.ts',
    lineNumber: 120,
    content: '  const answer = compute(input, options);',
    version: 981,
    operations: [{ retain: 4120 }, { insert: 'options' }, { delete: 3 }],
  },
});

function time(label: string, fn: () => void): number {
  for (let i = 0; i < N / 10; i++) fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  const ns = Number(process.hrtime.bigint() - start) / N;
  console.log(`${label.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/op`);
  return ns;
}

const bytes = SessionMessage.encode(message).finish();
console.log(
  `${new Date().toISOString()} node ${process.version}, ${N} iterations, message ${bytes.length} bytes`,
);
const tsEncode = time('ts-proto encode', () => SessionMessage.encode(message).finish());
const pbEncode = time('protobufjs (reflection) encode', () => Reflected.encode(reflectedMessage).finish());
const tsDecode = time('ts-proto decode', () => SessionMessage.decode(bytes));
const pbDecode = time('protobufjs (reflection) decode', () =>
  Reflected.toObject(Reflected.decode(bytes), { longs: Number }),
);
console.log(
  `ratio ts-proto / protobufjs: encode ${(tsEncode / pbEncode).toFixed(2)}, decode ${(tsDecode / pbDecode).toFixed(2)}`,
);

// The same edit as the engine's event, encoded the two ways the server could.
const event: LoggedEvent = {
  sessionId: 'session-42',
  seq: 12345,
  at: message.timestamp,
  origin: { userId: 'alice', clientId: 'alice-laptop', clientMessageId: 'alice-laptop-991' },
  change: {
    kind: 'edit',
    path: 'src/server/main.ts',
    version: 981,
    op: [4120, 'options', { d: 3 }],
    line: 120,
    lineText: '  const answer = compute(input, options);',
  },
};
const extras = { serverId: 'bench', maxMessageBytes: 4 << 20, idleAfterMs: 0 };
const outbound = { type: 'event' as const, event };
if (
  !Buffer.from(SessionMessage.encode(outboundToWire(outbound, extras, 0)).finish()).equals(
    encodeEditEvent(event, true)!,
  )
)
  throw new Error('the hand-written encoder differs from ts-proto');
const generic = time('server: wire object + ts-proto', () =>
  SessionMessage.encode(outboundToWire(outbound, extras, 0)).finish(),
);
const hot = time('server: hand-written encoder', () => encodeEditEvent(event, true));
console.log(`ratio hand-written / wire object + ts-proto: ${(hot / generic).toFixed(2)}`);
