// Subscribe on the HTTP port as hostile, careless or slow clients call it: a table of malformed
// requests (each answered with its status, the server unharmed), a client announcing a gigabyte,
// compressed requests, JSON over both protocols, a deadline, a client that goes away, one that stops
// reading (cut off at its bound, the others unaffected) and a server that stops.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { compressionGzip, createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { endStreamFromJson } from '@connectrpc/connect/protocol-connect';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';
import { trailerParse } from '@connectrpc/connect/protocol-grpc-web';
import {
  CodeReviewService,
  CommentAction,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
  type SessionMessage,
} from '../src/gen/es/codereview/v1/codereview_pb.js';
import { ErrorInfoSchema } from '../src/gen/es/google/rpc/error_details_pb.js';
import { frame } from '../src/transport/framed-encoders.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const PATH = '/codereview.v1.CodeReviewService/Subscribe';
const MAX_MESSAGE_BYTES = 64 * 1024;
const CONNECT = { 'content-type': 'application/connect+proto' };

type Service = Client<typeof CodeReviewService>;

const subscribeBytes = (sessionId: string, userId = 'sam') =>
  Buffer.from(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { sessionId, userId })));

interface Frame {
  flags: number;
  data: Buffer;
}

function framesOf(body: Buffer): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    frames.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return frames;
}

/** How the call ended: the status in Connect's end-of-stream message or gRPC-Web's trailers. */
function endingOf(frames: Frame[], protocol: 'connect' | 'grpc-web'): ConnectError | undefined {
  const last = frames.at(-1);
  assert.ok(last, 'the call sent nothing');
  if (protocol === 'connect') {
    assert.equal(last.flags, 0b10, 'the last frame is the end of the stream');
    return endStreamFromJson(last.data).error;
  }
  assert.equal(last.flags, 0x80, 'the last frame is the trailers');
  return findTrailerError(trailerParse(last.data));
}

/** A Subscribe sent as raw bytes over HTTP/1.1; resolves with the whole response. */
function rawSubscribe(
  port: number,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`http://127.0.0.1:${port}${PATH}`, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const comment = (sessionId: string, id: string, text: string) => ({
  message: {
    sessionId,
    userId: 'ann',
    clientMessageId: id,
    payload: {
      case: 'comment' as const,
      value: { commentId: id, action: CommentAction.CREATE, filePath: 'a.ts', lineNumber: 1, text },
    },
  },
});

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const inRoster = async (client: Service, sessionId: string, userId: string) =>
  (await client.getSession({ sessionId })).roster.some((p) => p.userId === userId);

describe('HTTP Subscribe: what a hostile or careless client sends', () => {
  let server: TestServer;
  let client: Service;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', httpPort: 0, maxMessageBytes: MAX_MESSAGE_BYTES });
    client = createClient(
      CodeReviewService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${server.httpPort}`, httpVersion: '1.1' }),
    );
    await client.openReview({ sessionId: 's', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
  });
  after(() => server.shutdown(500));

  const valid = () => frame(subscribeBytes('s'));
  const rows: {
    name: string;
    body: () => Buffer;
    headers?: Record<string, string>;
    code: Code;
    reason?: string;
  }[] = [
    { name: 'no request message', body: () => Buffer.alloc(0), code: Code.Unimplemented },
    {
      name: 'a truncated envelope',
      body: () => Buffer.from([0, 0, 0, 0, 10, 1, 2]),
      code: Code.InvalidArgument,
    },
    { name: 'half an envelope prefix', body: () => Buffer.from([0, 0]), code: Code.InvalidArgument },
    { name: 'two request messages', body: () => Buffer.concat([valid(), valid()]), code: Code.Unimplemented },
    {
      name: 'unknown envelope flags',
      body: () => frame(subscribeBytes('s'), 0x04),
      code: Code.InvalidArgument,
    },
    {
      name: 'compressed, with no encoding named',
      body: () => frame(subscribeBytes('s'), 1),
      code: Code.InvalidArgument,
    },
    {
      name: 'an encoding the server does not know',
      body: valid,
      headers: { 'connect-content-encoding': 'zstd' },
      code: Code.Unimplemented,
    },
    {
      name: 'an encoding named like an object property',
      body: () => frame(subscribeBytes('s'), 1),
      headers: { 'connect-content-encoding': 'constructor' },
      code: Code.Unimplemented,
    },
    {
      name: 'gzip that does not inflate',
      body: () => frame(Buffer.from('not gzip'), 1),
      headers: { 'connect-content-encoding': 'gzip' },
      code: Code.InvalidArgument,
    },
    {
      name: 'bytes that are not a SubscribeRequest',
      body: () => frame(Buffer.from([0x0a, 0x05, 0x61])),
      code: Code.InvalidArgument,
      reason: 'MALFORMED_REQUEST',
    },
    {
      name: 'JSON that is not a SubscribeRequest',
      body: () => frame(Buffer.from('{"sessionId": 5}')),
      headers: { 'content-type': 'application/connect+json' },
      code: Code.InvalidArgument,
      reason: 'MALFORMED_REQUEST',
    },
    {
      name: 'no session id',
      body: () => frame(subscribeBytes('')),
      code: Code.InvalidArgument,
      reason: 'INVALID_JOIN',
    },
    {
      name: 'a timeout that is not a number',
      body: valid,
      headers: { 'connect-timeout-ms': 'soon' },
      code: Code.InvalidArgument,
    },
    {
      name: 'a message larger than the limit',
      body: () => frame(Buffer.alloc(MAX_MESSAGE_BYTES + 1)),
      code: Code.ResourceExhausted,
    },
    {
      name: 'a gzip bomb (64 KB that inflates to 64 MB)',
      body: () => frame(gzipSync(Buffer.alloc(64 * 1024 * 1024)), 1),
      headers: { 'connect-content-encoding': 'gzip' },
      code: Code.ResourceExhausted,
    },
  ];

  for (const row of rows) {
    it(`${row.name}: ${Code[row.code]}`, async () => {
      const headers = { ...CONNECT, ...row.headers };
      const { status, body } = await rawSubscribe(server.httpPort, headers, row.body());
      assert.equal(status, 200, 'a streaming call ends with its status in the body');
      const error = endingOf(framesOf(body), 'connect');
      assert.equal(error?.code, row.code, error?.message);
      if (row.reason) assert.equal(error?.findDetails(ErrorInfoSchema)[0]?.reason, row.reason);
    });
  }

  it('gRPC-Web: the status in the trailers, with its details', async () => {
    const { body } = await rawSubscribe(
      server.httpPort,
      { 'content-type': 'application/grpc-web+proto' },
      frame(subscribeBytes('')),
    );
    const error = endingOf(framesOf(body), 'grpc-web');
    assert.equal(error?.code, Code.InvalidArgument);
    assert.equal(error?.findDetails(ErrorInfoSchema)[0]?.reason, 'INVALID_JOIN');
  });

  it('a client announcing a gigabyte is refused before it sends it', async () => {
    const answered = await new Promise<Buffer>((resolve, reject) => {
      const req = httpRequest(
        `http://127.0.0.1:${server.httpPort}${PATH}`,
        { method: 'POST', headers: CONNECT },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve(Buffer.concat(chunks));
            req.destroy();
          });
        },
      );
      req.on('error', reject);
      // The prefix and a little of the body; the rest never comes.
      req.write(Buffer.concat([Buffer.from([0, 0x40, 0, 0, 0]), Buffer.alloc(1000)]));
    });
    assert.equal(endingOf(framesOf(answered), 'connect')?.code, Code.ResourceExhausted);
    // Still serving.
    assert.equal((await client.getSession({ sessionId: 's' })).sessionId, 's');
  });
});

describe('HTTP Subscribe: compression, JSON, deadlines, clients that go', () => {
  let server: TestServer;
  let client: Service;
  const baseUrl = () => `http://127.0.0.1:${server.httpPort}`;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', httpPort: 0 });
    client = createClient(
      CodeReviewService,
      createConnectTransport({ baseUrl: baseUrl(), httpVersion: '1.1' }),
    );
  });
  after(() => server.shutdown(500));

  /** Subscribes with `subscriber`, then comments; resolves with the comments it received. */
  async function commentsThrough(subscriber: Service, sessionId: string): Promise<string[]> {
    await client.openReview({ sessionId, userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    const abort = new AbortController();
    const got: string[] = [];
    const reading = (async () => {
      for await (const r of subscriber.subscribe({ sessionId, userId: 'sam' }, { signal: abort.signal })) {
        if (r.message?.payload.case === 'comment') got.push(r.message.payload.value.text);
        if (got.length === 2) abort.abort();
      }
    })().catch((err: unknown) => {
      if (!abort.signal.aborted) throw err;
    });
    await until(() => inRoster(client, sessionId, 'sam'), 'the subscriber to join');
    for (const t of ['one', 'two']) await client.submit(comment(sessionId, t, t));
    await reading;
    return got;
  }

  it('a gzip-compressed request (Connect binary)', async () => {
    const gzipClient = createClient(
      CodeReviewService,
      createConnectTransport({
        baseUrl: baseUrl(),
        httpVersion: '1.1',
        useBinaryFormat: true,
        sendCompression: compressionGzip,
        compressMinBytes: 0,
      }),
    );
    assert.deepEqual(await commentsThrough(gzipClient, 'gzip'), ['one', 'two']);
  });

  it('gRPC-Web with JSON bodies', async () => {
    const jsonClient = createClient(
      CodeReviewService,
      createGrpcWebTransport({ baseUrl: baseUrl(), httpVersion: '1.1', useBinaryFormat: false }),
    );
    assert.deepEqual(await commentsThrough(jsonClient, 'grpc-web-json'), ['one', 'two']);
  });

  it('a deadline ends the call with DEADLINE_EXCEEDED and releases the participant', async () => {
    await client.openReview({ sessionId: 'deadline', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    const got: SessionMessage[] = [];
    const err = await (async () => {
      for await (const r of client.subscribe({ sessionId: 'deadline', userId: 'sam' }, { timeoutMs: 700 })) {
        if (r.message) got.push(r.message);
      }
    })().then(
      () => assert.fail('the call outlived its deadline'),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.equal(got[0]?.payload.case, 'welcome', 'live until the deadline');
    await until(async () => !(await inRoster(client, 'deadline', 'sam')), 'the participant to leave');
  });

  it('a client that goes away leaves the roster at once', async () => {
    await client.openReview({ sessionId: 'gone', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    const abort = new AbortController();
    const reading = (async () => {
      for await (const r of client.subscribe(
        { sessionId: 'gone', userId: 'sam' },
        { signal: abort.signal },
      )) {
        if (r.message?.payload.case === 'welcome') abort.abort();
      }
    })().catch(() => undefined);
    await reading;
    await until(async () => !(await inRoster(client, 'gone', 'sam')), 'the participant to leave');
  });
});

describe('HTTP Subscribe over HTTP/2: a reader that stops, a server that stops', () => {
  let certs: TestCerts;
  let server: TestServer;
  let client: Service;
  const BOUND = 50;
  before(async () => {
    certs = makeCerts();
    server = await startTestServer({
      logLevel: 'warn',
      httpPort: 0,
      outboundQueueMessages: BOUND,
      tlsCertFile: certs.file('server.crt'),
      tlsKeyFile: certs.file('server.key'),
    });
    client = createClient(
      CodeReviewService,
      createConnectTransport({
        baseUrl: `https://127.0.0.1:${server.httpPort}`,
        httpVersion: '2',
        nodeOptions: { ca: certs.pem('ca.crt') },
      }),
    );
  });
  after(async () => {
    await server.shutdown(500);
    certs.remove();
  });

  /** A raw HTTP/2 Subscribe; `frames()` is what came so far, `ended` when the response ends. */
  function h2Subscribe(sessionId: string, userId: string) {
    const session = http2Connect(`https://127.0.0.1:${server.httpPort}`, { ca: certs.pem('ca.crt') });
    session.on('error', () => undefined);
    const call = session.request({ ':method': 'POST', ':path': PATH, ...CONNECT });
    const chunks: Buffer[] = [];
    call.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve) => call.once('end', resolve));
    call.end(frame(subscribeBytes(sessionId, userId)));
    return { session, call, ended, frames: () => framesOf(Buffer.concat(chunks)) };
  }

  it('a reader that stops is cut off at its bound with SLOW_CONSUMER; a reader that reads gets every event', async () => {
    await client.openReview({ sessionId: 'slow', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    const fast = h2Subscribe('slow', 'fast');
    const slow = h2Subscribe('slow', 'slow');
    await until(
      async () => (await inRoster(client, 'slow', 'fast')) && (await inRoster(client, 'slow', 'slow')),
      'both readers to join',
    );
    slow.call.pause(); // no more WINDOW_UPDATEs: the server's writes to it stall
    const EVENTS = 300;
    const text = 'y'.repeat(2000);
    for (let i = 0; i < EVENTS; i++) await client.submit(comment('slow', `m${i}`, text));
    await until(async () => !(await inRoster(client, 'slow', 'slow')), 'the slow reader to be cut off');
    assert.equal(await inRoster(client, 'slow', 'fast'), true, 'the fast reader stays');

    slow.call.resume();
    await slow.ended;
    const error = endingOf(slow.frames(), 'connect');
    assert.equal(error?.code, Code.Unavailable);
    assert.equal(error?.findDetails(ErrorInfoSchema)[0]?.reason, 'SLOW_CONSUMER');

    const comments = () =>
      fast
        .frames()
        .map((f) => fromBinary(SubscribeResponseSchema, f.data).message)
        .filter((m) => m?.payload.case === 'comment')
        .map((m) => Number(m!.sequence));
    await until(async () => comments().length >= EVENTS, 'every event at the fast reader');
    const seen = comments();
    assert.equal(seen.length, EVENTS, 'every event once');
    assert.ok(
      seen.every((seq, i) => i === 0 || seq === seen[i - 1]! + 1),
      'in order, none missing',
    );
    for (const s of [fast, slow]) s.session.destroy();
  });

  it('readers that reset their streams in the middle of a burst leave; the server carries on', async () => {
    await client.openReview({ sessionId: 'resets', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    const readers = Array.from({ length: 30 }, (_, i) => h2Subscribe('resets', `r${i}`));
    await until(
      async () => (await client.getSession({ sessionId: 'resets' })).roster.length >= 30,
      'the readers to join',
    );
    const burst = Promise.all(
      Array.from({ length: 200 }, (_, i) => client.submit(comment('resets', `b${i}`, 'z'.repeat(500)))),
    );
    for (const [i, r] of readers.entries()) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (i % 2)
        r.call.close(0x8); // RST_STREAM CANCEL
      else r.session.destroy();
    }
    await burst;
    await until(
      async () => (await client.getSession({ sessionId: 'resets' })).roster.length === 0,
      'every reader to leave',
    );
    const after = h2Subscribe('resets', 'late');
    await until(() => inRoster(client, 'resets', 'late'), 'a new reader to join');
    after.session.destroy();
  });

  it('a server that stops ends its HTTP Subscribes with UNAVAILABLE', async () => {
    await client.openReview({ sessionId: 'stop', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    const reader = h2Subscribe('stop', 'sam');
    await until(() => inRoster(client, 'stop', 'sam'), 'the reader to join');
    await server.shutdown(1000);
    await reader.ended;
    assert.equal(endingOf(reader.frames(), 'connect')?.code, Code.Unavailable);
    reader.session.destroy();
  });
});
