// What the fuzz test sends, generated with fast-check from one seed: structured messages that are
// valid protobuf with hostile values (huge and negative numbers, unknown enum values, control
// characters and lone surrogates, strings near the size limit, other sessions' ids, operations that
// do not fit, every oneof case including the server's own), and bytes: random, or valid encodings
// mutated.
import fc from 'fast-check';
import {
  ExportReviewRequest,
  GetFileAtRequest,
  GetSessionRequest,
  ListCommentsRequest,
  OpenReviewRequest,
  SessionMessage,
  SubmitRequest,
  SubscribeRequest,
} from '../../src/gen/codereview/v1/codereview.js';

export const MAIN_SESSION = 'fuzz-a';
export const OTHER_SESSION = 'fuzz-b';
export const FILES = ['a.ts', 'b.md'];
/** Stands for the sending stream's own user id; replaced when the message is sent. */
export const SELF = '\u0000self';

const int32 = fc.oneof(
  fc.constantFrom(0, 1, 2, -1, 2 ** 31 - 1, -(2 ** 31)),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.integer({ min: 0, max: 40 }),
);
const uint32 = fc.oneof(
  fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.integer({ min: 1, max: 40 }),
);
/** int64 values as a JS client can encode them; beyond 2^53 the server's decoder refuses them. */
const int64 = fc.oneof(
  fc.constantFrom(0, 1, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 60, -(2 ** 60)),
  fc.maxSafeInteger(),
  fc.integer({ min: 0, max: 100 }),
);
const enumValue = (known: number) =>
  fc.oneof(fc.integer({ min: 0, max: known }), fc.constantFrom(-1, known + 1, 99, 2 ** 31 - 1, -(2 ** 31)));

const NASTY = [
  '',
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\r',
  '\n'.repeat(64),
  '\u202e\u2066',
  '\uD800',
  '\uDFFF x \uD83D',
  '😀👩‍💻𝄞',
  '\uFEFF',
  '\u0085\u2028\u2029',
  'constructor',
  '__proto__',
  '../../etc/passwd',
  '%s%n',
];

const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp));

/** Hostile text; sometimes close to `maxBytes` once UTF-8 encoded. */
export function hostileText(maxBytes: number, maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.string({ maxLength }) },
    // Any code point, lone surrogates included (fast-check's 'binary' unit would build a table of
    // every code point: 90 MB of heap that would blur the memory check).
    { weight: 3, arbitrary: fc.string({ unit: anyCodePoint, maxLength }) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.integer({ min: maxBytes - 2048, max: maxBytes - 600 }),
          fc.constantFrom('x', 'é', '😀', '\n'),
        )
        .map(([bytes, unit]) => unit.repeat(Math.floor(bytes / Buffer.byteLength(unit)))),
    },
  );
}

const sessionId = (maxBytes: number) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(MAIN_SESSION) },
    { weight: 2, arbitrary: fc.constant(OTHER_SESSION) },
    { weight: 2, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom('constructor', '__proto__', 'toString') },
    { weight: 1, arbitrary: hostileText(maxBytes, 12) },
  );

const filePath = (maxBytes: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...FILES) },
    { weight: 1, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constant('missing.ts') },
    { weight: 1, arbitrary: hostileText(maxBytes, 16) },
  );

const operation = (maxBytes: number) =>
  fc.oneof(
    fc.record({ kind: fc.record({ $case: fc.constant('retain' as const), value: uint32 }) }),
    fc.record({ kind: fc.record({ $case: fc.constant('insert' as const), value: hostileText(maxBytes) }) }),
    fc.record({ kind: fc.record({ $case: fc.constant('delete' as const), value: uint32 }) }),
    fc.constant({ kind: undefined }),
  );

/** An edit that usually fits: at base version 0 (transformed past everything since), an insert
 * near the start of the file. */
const fittingEdit = (maxBytes: number) =>
  fc
    .tuple(
      fc.constantFrom(...FILES),
      fc.integer({ min: 0, max: 3 }),
      hostileText(Math.floor(maxBytes / 4), 8),
    )
    .filter(([, , text]) => text.length > 0)
    .map(([path, at, text]) => ({
      filePath: path,
      version: 0,
      operations: [
        ...(at > 0 ? [{ kind: { $case: 'retain' as const, value: at } }] : []),
        { kind: { $case: 'insert' as const, value: text } },
      ],
    }));

const comment = (maxBytes: number) =>
  fc.record({
    commentId: fc.oneof(fc.constantFrom('', 'c1', 'c2', 'c3', 'deep-0', 'deep-5'), hostileText(maxBytes, 12)),
    lineNumber: int32,
    text: hostileText(maxBytes),
    filePath: filePath(maxBytes),
    action: enumValue(5),
    parentId: fc.oneof(fc.constantFrom('', 'c1', 'c2', 'deep-3'), hostileText(maxBytes, 12)),
    version: int32,
    authorId: hostileText(maxBytes, 8),
    state: enumValue(2),
    outdated: fc.boolean(),
    originalLineText: hostileText(maxBytes, 8),
    createdAt: int64,
    updatedAt: int64,
    side: fc.option(enumValue(2), { nil: undefined }),
    suggestion: fc.option(
      fc.record({
        startLine: int32,
        endLine: int32,
        replacement: hostileText(maxBytes),
        originalText: fc.oneof(fc.constant(''), hostileText(maxBytes, 8)),
        status: enumValue(3),
        appliedSequence: int64,
        rangeStart: int32,
        rangeEnd: int32,
      }),
      { nil: undefined },
    ),
  });

const commentId = (maxBytes: number) =>
  fc.oneof(fc.constantFrom('', 'c1', 'c2', 'c3', 'deep-0'), hostileText(maxBytes, 12));

type Payload = NonNullable<SessionMessage['payload']>;

const payload = (maxBytes: number): fc.Arbitrary<Payload | undefined> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        $case: fc.constant('edit' as const),
        value: fc.oneof(
          fittingEdit(maxBytes),
          fc.record({
            filePath: filePath(maxBytes),
            lineNumber: int32,
            content: hostileText(maxBytes),
            version: int32,
            operations: fc.array(operation(maxBytes), { maxLength: 12 }),
          }),
        ),
      }),
    },
    { weight: 5, arbitrary: fc.record({ $case: fc.constant('comment' as const), value: comment(maxBytes) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        $case: fc.constant('cursor' as const),
        value: fc.record({ filePath: filePath(maxBytes), line: int32, column: int32, version: int32 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        $case: fc.constant('presence' as const),
        value: fc.record({ status: enumValue(3), clientId: hostileText(maxBytes, 8) }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        $case: fc.constant('join' as const),
        value: fc.record({
          clientId: hostileText(maxBytes, 8),
          resumeAfterSequence: fc.option(int64, { nil: undefined }),
          capabilities: fc.array(hostileText(maxBytes, 8), { maxLength: 5 }),
          displayName: hostileText(maxBytes),
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        $case: fc.constant('tokenRefresh' as const),
        value: fc.record({ token: hostileText(maxBytes) }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        $case: fc.constant('applySuggestion' as const),
        value: fc.record({ commentId: commentId(maxBytes) }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        $case: fc.constant('verdict' as const),
        value: fc.record({
          kind: enumValue(3),
          message: hostileText(maxBytes),
          reviewerId: hostileText(maxBytes, 8),
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        $case: fc.constant('fileViewed' as const),
        value: fc.record({ filePath: filePath(maxBytes), version: int32, viewed: fc.boolean() }),
      }),
    },
    // Cases only the server sends.
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.constant({
          $case: 'welcome' as const,
          value: { participantId: 'p', headSequence: 2 ** 60, sync: 7 },
        }),
        fc.record({
          $case: fc.constant('snapshot' as const),
          value: fc.record({
            sequence: int64,
            index: int32,
            count: int32,
            files: fc.array(
              fc.record({ path: filePath(maxBytes), version: int32, text: hostileText(maxBytes) }),
              {
                maxLength: 2,
              },
            ),
          }),
        }),
        fc.constant({ $case: 'ack' as const, value: { clientMessageId: 'x', sequence: 1 } }),
        fc.constant({
          $case: 'error' as const,
          value: { clientMessageId: 'x', status: { code: 13, message: 'x' } },
        }),
        fc.constant({ $case: 'fileOpened' as const, value: { path: 'a.ts', version: 1, text: 'pwned' } }),
        fc.constant({ $case: 'reauthenticate' as const, value: { expiresAt: -1 } }),
        fc.constant({
          $case: 'suggestionApplied' as const,
          value: { commentId: 'c1', edit: { filePath: 'a.ts', version: 1, content: 'pwned' } },
        }),
        fc.constant({
          $case: 'rosterUpdate' as const,
          value: { participants: [{ participantId: 'p', status: 9 }] },
        }),
      ),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ) as fc.Arbitrary<Payload | undefined>;

export const sessionMessage = (maxBytes: number): fc.Arbitrary<SessionMessage> =>
  fc
    .record({
      sessionId: fc.oneof(
        { weight: 4, arbitrary: fc.constant('') },
        { weight: 1, arbitrary: sessionId(maxBytes) },
      ),
      timestamp: int64,
      userId: fc.oneof(
        { weight: 6, arbitrary: fc.constant('') },
        { weight: 2, arbitrary: fc.constant(SELF) },
        { weight: 1, arbitrary: fc.constant('sdk') },
        { weight: 1, arbitrary: hostileText(maxBytes, 8) },
      ),
      payload: payload(maxBytes),
      sequence: int64,
      clientMessageId: fc.oneof(
        { weight: 6, arbitrary: fc.uuid() },
        { weight: 1, arbitrary: fc.constantFrom('', 'dup-1', 'dup-2') },
        { weight: 1, arbitrary: hostileText(maxBytes, 12) },
      ),
      clientId: hostileText(maxBytes, 8),
    })
    .map((m) => SessionMessage.fromPartial(m as Parameters<typeof SessionMessage.fromPartial>[0]));

/** A byte-level change to an encoding. */
const mutation = fc.record({
  kind: fc.constantFrom('flip', 'delete', 'insert', 'truncate', 'duplicate', 'ff'),
  at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  length: fc.integer({ min: 1, max: 16 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

export function mutate(bytes: Uint8Array, mutations: Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    const at = Math.floor(m.at * (b.length + 1));
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << (m.length % 8);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]);
        break;
      case 'ff':
        if (b.length > 0) b[Math.min(at, b.length - 1)] = 0xff;
        break;
    }
  }
  return b;
}

/** What one fuzzed message is: a structured message, its encoding mutated, or random bytes. */
export type FuzzItem<T> =
  | { kind: 'structured'; value: T }
  | { kind: 'mutated'; value: T; mutations: Mutation[] }
  | { kind: 'random'; bytes: Uint8Array };

export function fuzzItems<T>(structured: fc.Arbitrary<T>): fc.Arbitrary<FuzzItem<T>> {
  return fc.oneof(
    { weight: 14, arbitrary: structured.map((value) => ({ kind: 'structured' as const, value })) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(structured, fc.array(mutation, { minLength: 1, maxLength: 4 }))
        .map(([value, mutations]) => ({ kind: 'mutated' as const, value, mutations })),
    },
    {
      weight: 2,
      arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: 'random' as const, bytes })),
    },
  );
}

/** The bytes of an item, with `encode` for structured values. */
export function bytesOf<T>(item: FuzzItem<T>, encode: (value: T) => Uint8Array): Buffer {
  switch (item.kind) {
    case 'structured':
      return Buffer.from(encode(item.value));
    case 'mutated':
      return mutate(encode(item.value), item.mutations);
    case 'random':
      return Buffer.from(item.bytes);
  }
}

// ---- unary requests --------------------------------------------------------------------------

export const openReviewRequest = (maxBytes: number) =>
  fc
    .record({
      sessionId: fc.oneof(
        sessionId(maxBytes),
        fc.string({ minLength: 1, maxLength: 6 }).map((s) => `new-${s}`),
      ),
      userId: fc.oneof(fc.constant(''), hostileText(maxBytes, 8)),
      clientMessageId: fc.oneof(fc.uuid(), fc.constantFrom('', 'dup-1')),
      files: fc.array(
        fc.record({
          path: filePath(maxBytes),
          text: hostileText(Math.floor(maxBytes / 3)),
          base: fc.option(
            fc.record({
              text: hostileText(Math.floor(maxBytes / 3)),
              previousPath: fc.oneof(fc.constant(''), filePath(maxBytes)),
              change: enumValue(4),
            }),
            { nil: undefined },
          ),
        }),
        { maxLength: 4 },
      ),
    })
    .map((r) => OpenReviewRequest.fromPartial(r));

export const getSessionRequest = (maxBytes: number) =>
  fc.record({ sessionId: sessionId(maxBytes) }).map((r) => GetSessionRequest.fromPartial(r));

export const listCommentsRequest = (maxBytes: number) =>
  fc
    .record({ sessionId: sessionId(maxBytes), filePath: filePath(maxBytes), includeResolved: fc.boolean() })
    .map((r) => ListCommentsRequest.fromPartial(r));

export const submitRequest = (maxBytes: number) =>
  fc
    .oneof(
      { weight: 12, arbitrary: sessionMessage(maxBytes).map((message) => ({ message })) },
      { weight: 1, arbitrary: fc.constant({ message: undefined }) },
    )
    .map((r) => {
      // Submit names its session on the message itself: mostly the main one.
      if (r.message && r.message.sessionId === '') r.message.sessionId = MAIN_SESSION;
      return SubmitRequest.fromPartial(r);
    });

export const subscribeRequest = (maxBytes: number) =>
  fc
    .record({
      sessionId: sessionId(maxBytes),
      userId: fc.oneof(fc.constant('watcher'), hostileText(maxBytes, 8)),
      clientId: hostileText(maxBytes, 8),
      resumeAfterSequence: fc.option(int64, { nil: undefined }),
    })
    .map((r) => SubscribeRequest.fromPartial(r));

export const getFileAtRequest = (maxBytes: number) =>
  fc
    .record({
      sessionId: sessionId(maxBytes),
      filePath: filePath(maxBytes),
      sequence: fc.option(int64, { nil: undefined }),
    })
    .map((r) => GetFileAtRequest.fromPartial(r));

export const exportReviewRequest = (maxBytes: number) =>
  fc
    .record({ sessionId: sessionId(maxBytes), format: enumValue(2) })
    .map((r) => ExportReviewRequest.fromPartial(r));

export const CODECS = {
  GetFileAt: GetFileAtRequest,
  ExportReview: ExportReviewRequest,
  OpenReview: OpenReviewRequest,
  GetSession: GetSessionRequest,
  ListComments: ListCommentsRequest,
  Submit: SubmitRequest,
  Subscribe: SubscribeRequest,
};

/** Encodes with the generated codec; a value the codec cannot encode becomes random bytes. */
export function encoder<T>(codec: { encode(m: T): { finish(): Uint8Array } }): (value: T) => Uint8Array {
  return (value) => {
    try {
      return codec.encode(value).finish();
    } catch {
      return new Uint8Array([0x0a, 0x01, 0x00]);
    }
  };
}
