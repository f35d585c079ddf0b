// The calls of the fuzz test (test/fuzz.test.ts): each sends its bytes over a real call with a
// deadline and records how it ended; Findings collects whatever breaks the contract (a status
// left to the deadline, INTERNAL, bytes from the server that do not decode).
import * as grpc from '@grpc/grpc-js';
import { CommentAction, SessionMessage, SubscribeResponse } from '../../src/gen/codereview/v1/codereview.js';
import { encoder, SELF } from './fuzz-messages.js';

const SERVICE = '/codereview.v1.CodeReviewService/';
/** Every fuzzed call has this deadline (unless given a short one on purpose): reaching it means the
 * server left the call without a status. */
export const DEADLINE_MS = 15_000;

const identity = (b: Buffer) => b;

/** Deterministic choices from the seed (mulberry32). */
export function chooser(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Ending = 'normal' | 'short-deadline' | 'cancel';

/** Everything the calls showed that breaks the contract. */
export class Findings {
  readonly problems: string[] = [];
  calls = 0;
  messages = 0;
  sdkEdits = 0;
  readonly codes = new Map<number, number>();
  /** A few examples of each final status, for the report. */
  readonly examples = new Map<number, string[]>();

  ended(what: string, status: { code: number; details: string }, ending: Ending): void {
    this.calls++;
    this.codes.set(status.code, (this.codes.get(status.code) ?? 0) + 1);
    const examples = this.examples.get(status.code) ?? [];
    if (examples.length < 3) this.examples.set(status.code, [...examples, `${what}: ${status.details}`]);
    if (status.code === grpc.status.INTERNAL || status.code === grpc.status.UNKNOWN)
      this.problems.push(`${what}: ${grpc.status[status.code]} ${status.details}`);
    if (status.code === grpc.status.DEADLINE_EXCEEDED && ending === 'normal')
      this.problems.push(`${what}: left hanging until its ${DEADLINE_MS} ms deadline`);
  }

  /** A message the server sent on a stream: it must decode, and carry no INTERNAL error. */
  received(what: string, bytes: Buffer, subscribe: boolean): void {
    try {
      const m = subscribe ? SubscribeResponse.decode(bytes).message : SessionMessage.decode(bytes);
      if (m?.payload?.$case === 'error' && m.payload.value.status?.code === grpc.status.INTERNAL)
        this.problems.push(`${what}: in-stream INTERNAL: ${m.payload.value.status.message}`);
    } catch (err) {
      this.problems.push(`${what}: the server sent bytes that do not decode: ${(err as Error).message}`);
    }
  }
}

export async function pool<T>(
  items: T[],
  concurrency: number,
  run: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await run(items[i]!, i);
      }
    }),
  );
}

export function endingOf(random: () => number): Ending {
  const r = random();
  return r < 0.85 ? 'normal' : r < 0.95 ? 'short-deadline' : 'cancel';
}

const encodeSession = encoder(SessionMessage);
export function encodeFor(user: string) {
  return (m: SessionMessage) => encodeSession(m.userId === SELF ? { ...m, userId: user } : m);
}

/** One CollaborativeSession stream: a join, then the items, then half-close (or cancel, or a
 * short deadline). Resolves with how it ended. */
export function fuzzStream(
  raw: grpc.Client,
  md: grpc.Metadata,
  findings: Findings,
  name: string,
  first: Buffer,
  rest: Buffer[],
  ending: Ending,
  random: () => number,
): Promise<void> {
  const deadline = Date.now() + (ending === 'short-deadline' ? 50 + Math.floor(random() * 500) : DEADLINE_MS);
  const call = raw.makeBidiStreamRequest(SERVICE + 'CollaborativeSession', identity, identity, md, {
    deadline,
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => undefined);
  call.on('data', (b: Buffer) => findings.received(name, b, false));
  let over = false;
  void status.then(() => (over = true));
  return (async () => {
    const all = [first, ...rest];
    const cancelAt = ending === 'cancel' ? Math.floor(random() * all.length) : -1;
    for (const [i, bytes] of all.entries()) {
      if (over) break;
      if (i === cancelAt) {
        call.cancel();
        break;
      }
      findings.messages++;
      if (!call.write(bytes)) await Promise.race([new Promise((r) => call.once('drain', r)), status]);
    }
    if (!over && ending !== 'cancel') call.end();
    findings.ended(name, await status, ending);
  })();
}

export function fuzzUnary(
  raw: grpc.Client,
  md: grpc.Metadata,
  findings: Findings,
  method: string,
  bytes: Buffer,
  ending: Ending,
  random: () => number,
): Promise<void> {
  findings.messages++;
  const deadline = Date.now() + (ending === 'short-deadline' ? 1 + Math.floor(random() * 30) : DEADLINE_MS);
  return new Promise((resolve) => {
    const call = raw.makeUnaryRequest(
      SERVICE + method,
      identity,
      identity,
      bytes,
      md,
      { deadline },
      (err) => {
        findings.ended(method, err ?? { code: grpc.status.OK, details: '' }, ending);
        resolve();
      },
    );
    if (ending === 'cancel') setImmediate(() => call.cancel());
  });
}

/** Subscribe: reads until the server ends it, or cancels after a short while (it is endless). */
export function fuzzSubscribe(
  raw: grpc.Client,
  md: grpc.Metadata,
  findings: Findings,
  bytes: Buffer,
  random: () => number,
): Promise<void> {
  findings.messages++;
  const call = raw.makeServerStreamRequest(SERVICE + 'Subscribe', identity, identity, bytes, md, {
    deadline: Date.now() + DEADLINE_MS,
  });
  call.on('error', () => undefined);
  call.on('data', (b: Buffer) => findings.received('Subscribe', b, true));
  const timer = setTimeout(() => call.cancel(), 50 + Math.floor(random() * 400));
  return new Promise((resolve) =>
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      findings.ended('Subscribe', s, s.code === grpc.status.CANCELLED ? 'cancel' : 'normal');
      resolve();
    }),
  );
}

/** A root comment and a chain of 150 replies, each to the previous reply. */
export function deepReplies(): Buffer[] {
  return Array.from({ length: 151 }, (_, k) =>
    Buffer.from(
      encodeSession(
        SessionMessage.fromPartial({
          clientMessageId: `deep-msg-${k}`,
          payload: {
            $case: 'comment',
            value: {
              commentId: `deep-${k}`,
              action: k === 0 ? CommentAction.COMMENT_ACTION_CREATE : CommentAction.COMMENT_ACTION_REPLY,
              parentId: k === 0 ? '' : `deep-${k - 1}`,
              filePath: 'a.ts',
              lineNumber: 1,
              text: `level ${k}`,
            },
          },
        }),
      ),
    ),
  );
}

/** A join; the user is the token's. */
export function joinMessage(session: string, random: () => number): Buffer {
  const capabilities = random() < 0.5 ? ['ops', 'roster_updates'] : [];
  return Buffer.from(
    encodeSession(
      SessionMessage.fromPartial({
        sessionId: session,
        payload: { $case: 'join', value: { clientId: `c${Math.floor(random() * 1e9)}`, capabilities } },
      }),
    ),
  );
}
