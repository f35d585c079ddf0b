// The HTTP edge, tried as a browser or curl would: every unary method over the Connect protocol
// (JSON and binary) and over gRPC-Web against the same engine as the gRPC port; every error class
// with its HTTP status and its details (table-driven, over Connect JSON with plain fetch and over
// gRPC-Web with a real client); Subscribe over HTTP resuming from a sequence; CORS; the web app's
// files and nothing else.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary, toJson } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import {
  CodeReviewService,
  CommentAction,
  ExportFormat,
  type SessionMessage,
} from '../src/gen/es/codereview/v1/codereview_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../src/gen/es/google/rpc/error_details_pb.js';
import { mintToken } from '../src/security/tokens.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SECRET = 'an-edge-test-secret-that-is-long-enough-for-hs256-0123';
const dir = mkdtempSync(join(tmpdir(), 'lr-edge-'));
const secretFile = join(dir, 'secret');
writeFileSync(secretFile, SECRET);
after(() => rmSync(dir, { recursive: true, force: true }));

const mint = (user: string, sessions: Record<string, 'author' | 'reviewer' | 'viewer'>) =>
  mintToken({
    secret: SECRET,
    userId: user,
    sessions,
    ttlSeconds: 600,
    issuer: 'livereview',
    audience: 'livereview',
  });

const SERVICE = '/codereview.v1.CodeReviewService';
const base = (s: TestServer) => `http://127.0.0.1:${s.httpPort}`;

const transports: [string, (baseUrl: string) => Transport][] = [
  ['Connect JSON', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1' })],
  [
    'Connect binary',
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: true }),
  ],
  ['gRPC-Web', (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' })],
];

/** A development-mode server whose store fails appends in session "broken" and delays them in
 * session "slow" once they are open (the UNAVAILABLE and DEADLINE_EXCEEDED rows). */
async function devServer(): Promise<TestServer> {
  const store = new MemoryStore();
  const append = store.append.bind(store);
  // The first append (the review being opened) goes through.
  store.append = async (sessionId, head, events) => {
    if (sessionId === 'broken' && head > 0) throw new Error('SQLITE_FULL: database or disk is full');
    if (sessionId === 'slow' && head > 0) await new Promise((r) => setTimeout(r, 1500));
    return append(sessionId, head, events);
  };
  return startTestServer({ logLevel: 'warn', httpPort: 0 }, { store });
}

const comment = (sessionId: string, id: string, text: string, clientMessageId = id) => ({
  message: {
    sessionId,
    userId: 'ann',
    clientMessageId,
    payload: {
      case: 'comment' as const,
      value: { commentId: id, action: CommentAction.CREATE, filePath: 'a.ts', lineNumber: 1, text },
    },
  },
});

describe('HTTP edge: the unary methods', () => {
  let server: TestServer;
  before(async () => {
    server = await devServer();
  });
  after(() => server.shutdown(500));

  for (const [name, make] of transports) {
    it(`${name}: OpenReview, Submit, GetSession, ListComments, GetFileAt, ExportReview`, async () => {
      const client = createClient(CodeReviewService, make(base(server)));
      const sessionId = `unary-${name.replace(/\W/g, '-')}`;
      const opened = await client.openReview({
        sessionId,
        userId: 'ann',
        files: [{ path: 'a.ts', text: 'const one = 1;\n' }],
      });
      assert.deepEqual(
        opened.files.map((f) => [f.path, f.text]),
        [['a.ts', 'const one = 1;\n']],
      );
      const acked = await client.submit(comment(sessionId, 'c1', 'why one?'));
      assert.equal(acked.ack?.clientMessageId, 'c1');
      assert.ok(Number(acked.ack?.sequence) > 0);
      // The same message again is the same ack (idempotent), not a second comment.
      const again = await client.submit(comment(sessionId, 'c1', 'why one?'));
      assert.equal(again.ack?.sequence, acked.ack?.sequence);

      const state = await client.getSession({ sessionId });
      assert.equal(state.files[0]?.text, 'const one = 1;\n');
      assert.deepEqual(
        state.comments.map((c) => [c.commentId, c.text, c.authorId]),
        [['c1', 'why one?', 'ann']],
      );
      const listed = await client.listComments({ sessionId, filePath: 'a.ts' });
      assert.deepEqual(
        listed.comments.map((c) => c.commentId),
        ['c1'],
      );
      const at = await client.getFileAt({ sessionId, filePath: 'a.ts', sequence: opened.sequence });
      assert.equal(at.text, 'const one = 1;\n');
      assert.equal(at.exists, true);
      const exported = await client.exportReview({ sessionId, format: ExportFormat.MARKDOWN });
      assert.match(exported.content, /why one\?/);
      assert.equal(exported.contentType, 'text/markdown; charset=utf-8');

      // The gRPC port sees the same session: one engine behind both.
      const viaGrpc = await new Promise<number>((resolve, reject) =>
        server.engine
          .getSession(sessionId, { size: 0, token: '' })
          .then((s) => resolve(s.comments.length), reject),
      );
      assert.equal(viaGrpc, 1);
    });
  }

  it('answers curl: JSON in, JSON out, with the correlation id echoed', async () => {
    const res = await fetch(`${base(server)}${SERVICE}/GetSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-42' },
      body: JSON.stringify({ sessionId: 'unary-Connect-JSON' }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'trace-42');
    const body = (await res.json()) as { sessionId: string; comments: { text: string }[] };
    assert.equal(body.sessionId, 'unary-Connect-JSON');
    assert.equal(body.comments[0]?.text, 'why one?');
  });
});

interface ErrorRow {
  name: string;
  server: 'dev' | 'auth';
  method: string;
  body: (i: number) => object;
  token?: () => Promise<string>;
  timeoutMs?: number;
  /** Calls made first (to exhaust a rate limit). */
  before?: number;
  code: Code;
  http: number;
  /** ErrorInfo reason; undefined where Connect itself answers (no ErrorInfo). */
  reason?: string;
  retry?: boolean;
}

const ROWS: ErrorRow[] = [
  {
    name: 'a session nobody opened',
    server: 'dev',
    method: 'GetSession',
    body: () => ({ sessionId: 'nobody' }),
    code: Code.NotFound,
    http: 404,
    reason: 'SESSION_NOT_FOUND',
  },
  {
    name: 'a page token that is not one',
    server: 'dev',
    method: 'GetSession',
    body: () => ({ sessionId: 'errors', pageToken: '!!' }),
    code: Code.InvalidArgument,
    http: 400,
    reason: 'INVALID_MESSAGE',
  },
  {
    name: 'an edit based on a version from the future',
    server: 'dev',
    method: 'Submit',
    body: (i) => ({
      message: {
        sessionId: 'errors',
        userId: 'ann',
        clientMessageId: `future-${i}`,
        payload: {
          case: 'edit',
          value: { filePath: 'a.ts', version: 99, operations: [{ kind: { case: 'insert', value: 'x' } }] },
        },
      },
    }),
    code: Code.FailedPrecondition,
    http: 400,
    reason: 'VERSION_AHEAD',
  },
  {
    name: 'a file read after the last event',
    server: 'dev',
    method: 'GetFileAt',
    body: () => ({ sessionId: 'errors', filePath: 'a.ts', sequence: 1_000_000 }),
    code: Code.OutOfRange,
    http: 400,
    reason: 'SEQUENCE_AHEAD',
  },
  {
    name: 'a comment id that exists',
    server: 'dev',
    method: 'Submit',
    body: (i) => comment('errors', 'taken', 'again', `dup-${i}`),
    code: Code.AlreadyExists,
    http: 409,
    reason: 'COMMENT_EXISTS',
  },
  {
    name: 'a store that cannot commit',
    server: 'dev',
    method: 'Submit',
    body: (i) => comment('broken', `b${i}`, 'lost?'),
    code: Code.Unavailable,
    http: 503,
    reason: 'STORE_UNAVAILABLE',
  },
  {
    name: 'a deadline shorter than the commit',
    server: 'dev',
    method: 'Submit',
    body: (i) => comment('slow', `s${i}`, 'slowly'),
    timeoutMs: 200,
    code: Code.DeadlineExceeded,
    http: 504,
  },
  {
    name: 'no token',
    server: 'auth',
    method: 'GetSession',
    body: () => ({ sessionId: 'guarded' }),
    code: Code.Unauthenticated,
    http: 401,
    reason: 'TOKEN_MISSING',
  },
  {
    name: 'a token without a role in the session',
    server: 'auth',
    method: 'GetSession',
    body: () => ({ sessionId: 'guarded' }),
    token: () => mint('mallory', { elsewhere: 'author' }),
    code: Code.PermissionDenied,
    http: 403,
    reason: 'SESSION_FORBIDDEN',
  },
  {
    name: 'a user over the rate limit',
    server: 'auth',
    method: 'Submit',
    body: (i) => comment('guarded', `r${i}-${Math.random()}`, 'fast'),
    token: () => mint('ann', { guarded: 'author' }),
    before: 3,
    code: Code.ResourceExhausted,
    http: 429,
    reason: 'RATE_LIMITED',
    retry: true,
  },
];

describe('HTTP edge: every error class with its HTTP status and details', () => {
  const servers = {} as Record<'dev' | 'auth', TestServer>;
  before(async () => {
    servers.dev = await devServer();
    servers.auth = await startTestServer({
      logLevel: 'warn',
      httpPort: 0,
      authSecretFile: secretFile,
      rateUserPerSecond: 0.2,
      rateUserBurst: 2,
    });
    const dev = createClient(CodeReviewService, transports[0]![1](base(servers.dev)));
    for (const sessionId of ['errors', 'broken', 'slow']) {
      await dev.openReview({ sessionId, userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
    }
    await dev.submit(comment('errors', 'taken', 'first'));
    const guarded = createClient(CodeReviewService, transports[0]![1](base(servers.auth)));
    await guarded.openReview(
      { sessionId: 'guarded', files: [{ path: 'a.ts', text: 'a\n' }] },
      { headers: { authorization: `Bearer ${await mint('owner', { guarded: 'author' })}` } },
    );
  });
  after(async () => {
    await servers.dev?.shutdown(500);
    await servers.auth?.shutdown(500);
  });

  let call = 0;
  for (const row of ROWS) {
    it(`${row.name}: ${Code[row.code]} -> HTTP ${row.http} over Connect JSON, grpc-status over gRPC-Web`, async () => {
      const server = servers[row.server];
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (row.token) headers.authorization = `Bearer ${await row.token()}`;
      if (row.timeoutMs) headers['connect-timeout-ms'] = String(row.timeoutMs);
      const post = () =>
        fetch(`${base(server)}${SERVICE}/${row.method}`, {
          method: 'POST',
          headers,
          body: jsonOf(row.method, row.body(call++)),
        });
      for (let i = 0; i < (row.before ?? 0); i++) await (await post()).arrayBuffer();

      // Connect JSON, as curl or fetch sees it.
      const res = await post();
      assert.equal(res.status, row.http);
      const body = (await res.json()) as {
        code: string;
        message: string;
        details?: { type: string; value: string }[];
      };
      assert.equal(
        body.code,
        Code[row.code].replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase()),
      );
      assert.ok(body.message.length > 0);
      const info = body.details?.find((d) => d.type === 'google.rpc.ErrorInfo');
      if (row.reason) {
        assert.ok(info, `ErrorInfo in ${JSON.stringify(body)}`);
        const decoded = fromBinary(ErrorInfoSchema, Buffer.from(info.value, 'base64'));
        assert.equal(decoded.reason, row.reason);
        assert.equal(decoded.domain, 'livereview.dev');
      }
      if (row.retry) {
        assert.ok(
          body.details?.some((d) => d.type === 'google.rpc.RetryInfo'),
          'RetryInfo',
        );
        assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
      }

      // gRPC-Web through a real client: the same code and details.
      const client: Client<typeof CodeReviewService> = createClient(
        CodeReviewService,
        createGrpcWebTransport({ baseUrl: base(server), httpVersion: '1.1' }),
      );
      const options: { headers: Record<string, string>; timeoutMs?: number } = {
        headers: row.token ? { authorization: headers.authorization! } : {},
      };
      if (row.timeoutMs) options.timeoutMs = row.timeoutMs;
      for (let i = 0; i < (row.before ?? 0); i++) {
        await callMethod(client, row.method, row.body(call++), options).catch(() => undefined);
      }
      const err = await callMethod(client, row.method, row.body(call++), options).then(
        () => assert.fail('the call succeeded'),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, row.code, err.message);
      if (row.reason) assert.equal(err.findDetails(ErrorInfoSchema)[0]?.reason, row.reason);
      if (row.retry) assert.ok(err.findDetails(RetryInfoSchema)[0]?.retryDelay, 'RetryInfo over gRPC-Web');
    });
  }
});

/** A request as curl would send it: proto3 JSON of the method's request message. */
function jsonOf(method: string, body: object): string {
  const input = CodeReviewService.methods.find((m) => m.name === method)!.input;
  return JSON.stringify(toJson(input, create(input, body as Record<string, unknown>)));
}

function callMethod(
  client: Client<typeof CodeReviewService>,
  method: string,
  body: object,
  options: { headers: Record<string, string>; timeoutMs?: number },
): Promise<unknown> {
  const key = (method[0]!.toLowerCase() + method.slice(1)) as 'getSession';
  return (client[key] as (req: object, o: object) => Promise<unknown>)(body, options);
}

describe('HTTP edge: Subscribe', () => {
  let server: TestServer;
  before(async () => {
    server = await devServer();
  });
  after(() => server.shutdown(500));

  /** Reads a Subscribe call until `stop` says so; returns what came. */
  async function read(
    client: Client<typeof CodeReviewService>,
    request: object,
    stop: (got: SessionMessage[]) => boolean,
  ): Promise<SessionMessage[]> {
    const abort = new AbortController();
    const got: SessionMessage[] = [];
    try {
      for await (const r of client.subscribe(request, { signal: abort.signal })) {
        if (r.message) got.push(r.message);
        if (stop(got)) break;
      }
    } finally {
      abort.abort();
    }
    return got;
  }
  const comments = (got: SessionMessage[]) =>
    got.filter((m) => m.payload.case === 'comment').map((m) => (m.payload.value as { text: string }).text);

  for (const [name, make] of transports) {
    it(`${name}: live events, then a resume from a sequence with exactly what came after it`, async () => {
      const client = createClient(CodeReviewService, make(base(server)));
      const sessionId = `sub-${name.replace(/\W/g, '-')}`;
      await client.openReview({ sessionId, userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
      const first = read(
        client,
        { sessionId, userId: 'sam', clientId: 'sam-1' },
        (g) => comments(g).length === 3,
      );
      // Subscribed (its participant is in the session) before the comments are sent.
      await until(async () =>
        (await client.getSession({ sessionId })).roster.some((p) => p.userId === 'sam'),
      );
      for (const t of ['one', 'two', 'three']) await client.submit(comment(sessionId, t, t));
      const live = await first;
      assert.equal(live[0]?.payload.case, 'welcome');
      assert.deepEqual(comments(live), ['one', 'two', 'three']);
      const resumeAfter = live.filter((m) => m.payload.case === 'comment')[2]!.sequence;

      for (const t of ['four', 'five']) await client.submit(comment(sessionId, t, t));
      const resumed = await read(
        client,
        { sessionId, userId: 'sam', clientId: 'sam-1', resumeAfterSequence: resumeAfter },
        (g) => comments(g).length === 2,
      );
      assert.equal(resumed[0]?.payload.case, 'welcome');
      assert.equal(
        resumed.some((m) => m.payload.case === 'snapshot'),
        false,
        'a resume is not a snapshot',
      );
      assert.deepEqual(comments(resumed), ['four', 'five']);
    });
  }

  it('ends a Subscribe with the status when the session cannot be joined', async () => {
    const client = createClient(CodeReviewService, transports[2]![1](base(server)));
    const err = await read(client, { sessionId: '', userId: 'sam' }, () => true).then(
      () => assert.fail('subscribed without a session id'),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.InvalidArgument);
    assert.equal(err.findDetails(ErrorInfoSchema)[0]?.reason, 'INVALID_JOIN');
  });
});

describe('HTTP edge: CORS and files', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', httpPort: 0, corsOrigins: 'https://review.example' });
  });
  after(() => server.shutdown(500));

  it('lets the configured origin call, with the headers a browser needs, and no other', async () => {
    const preflight = (origin: string) =>
      fetch(`${base(server)}${SERVICE}/GetSession`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, connect-protocol-version',
        },
      });
    const ok = await preflight('https://review.example');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://review.example');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
    const other = await preflight('https://evil.example');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('serves nothing outside the web app', async () => {
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/nothing-here.js',
    ]) {
      const res = await fetch(`${base(server)}${path}`);
      assert.equal(res.status, 404, path);
    }
    const bidi = await fetch(`${base(server)}${SERVICE}/NoSuchMethod`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(bidi.status, 404);
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not reached');
}
