// The unary methods on the HTTP port as careless or hostile clients call them (test/http-edge.test.ts
// has every method and every error class through real clients): malformed bodies, oversized and
// over-inflating ones, unknown encodings, each answered with Connect's HTTP status and error body,
// the server unharmed; compressed requests, gzipped large responses, gRPC-Web with JSON, and clients
// that leave before their answer.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, createClient, type Client } from '@connectrpc/connect';
import { compressionGzip, createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import {
  CodeReviewService,
  CommentAction,
  GetSessionRequestSchema,
} from '../src/gen/es/codereview/v1/codereview_pb.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SERVICE = '/codereview.v1.CodeReviewService';
const MAX_MESSAGE_BYTES = 64 * 1024;

/** A unary call sent as raw bytes over HTTP/1.1; resolves with the whole response. */
function rawCall(
  port: number,
  method: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `http://127.0.0.1:${port}${SERVICE}/${method}`,
      { method: 'POST', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const PROTO = { 'content-type': 'application/proto' };
const getSession = (sessionId: string) =>
  Buffer.from(toBinary(GetSessionRequestSchema, create(GetSessionRequestSchema, { sessionId })));

describe('HTTP unary calls: what a hostile or careless client sends', () => {
  let server: TestServer;
  let client: Client<typeof CodeReviewService>;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', httpPort: 0, maxMessageBytes: MAX_MESSAGE_BYTES });
    client = createClient(
      CodeReviewService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${server.httpPort}`, httpVersion: '1.1' }),
    );
    await client.openReview({
      sessionId: 's',
      userId: 'ann',
      files: [{ path: 'a.ts', text: 'const line = 1;\n'.repeat(2000) }],
    });
  });
  after(() => server.shutdown(500));

  const rows: {
    name: string;
    body: () => Buffer;
    headers?: Record<string, string>;
    http: number;
    code: string;
    reason?: string;
  }[] = [
    {
      name: 'bytes that are not a GetSessionRequest',
      body: () => Buffer.from([0x0a, 0x05, 0x61]),
      http: 400,
      code: 'invalid_argument',
      reason: 'MALFORMED_REQUEST',
    },
    {
      name: 'JSON that is not a GetSessionRequest',
      body: () => Buffer.from('{"sessionId": 5}'),
      headers: { 'content-type': 'application/json' },
      http: 400,
      code: 'invalid_argument',
      reason: 'MALFORMED_REQUEST',
    },
    {
      name: 'a body larger than the limit',
      body: () => Buffer.alloc(MAX_MESSAGE_BYTES + 1),
      http: 429,
      code: 'resource_exhausted',
    },
    {
      name: 'a gzip bomb (64 KB that inflates to 64 MB)',
      body: () => gzipSync(Buffer.alloc(64 * 1024 * 1024)),
      headers: { 'content-encoding': 'gzip' },
      http: 429,
      code: 'resource_exhausted',
    },
    {
      name: 'gzip that does not inflate',
      body: () => Buffer.from('not gzip'),
      headers: { 'content-encoding': 'gzip' },
      http: 400,
      code: 'invalid_argument',
    },
    {
      name: 'an encoding the server does not know',
      body: () => getSession('s'),
      headers: { 'content-encoding': 'constructor' },
      http: 501,
      code: 'unimplemented',
    },
    {
      name: 'a timeout that is not a number',
      body: () => getSession('s'),
      headers: { 'connect-timeout-ms': 'soon' },
      http: 400,
      code: 'invalid_argument',
    },
  ];

  for (const row of rows) {
    it(`${row.name}: HTTP ${row.http}, ${row.code}`, async () => {
      const res = await rawCall(server.httpPort, 'GetSession', { ...PROTO, ...row.headers }, row.body());
      assert.equal(res.status, row.http);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const error = JSON.parse(res.body.toString()) as { code: string; message: string; details?: unknown[] };
      assert.equal(error.code, row.code, error.message);
      if (row.reason) assert.ok(error.details?.length, 'the details say why');
    });
  }

  it('a client that sends more than the limit is answered before it has sent it all', async () => {
    const answered = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `http://127.0.0.1:${server.httpPort}${SERVICE}/GetSession`,
        { method: 'POST', headers: PROTO },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        },
      );
      req.on('error', reject);
      // Past the limit, and the body never ends.
      req.write(Buffer.alloc(MAX_MESSAGE_BYTES + 1000));
    });
    assert.equal(answered, 429);
    assert.equal((await client.getSession({ sessionId: 's' })).sessionId, 's', 'still serving');
  });

  it('a large response is gzipped for a client that accepts it, and not for one that does not', async () => {
    const gzipped = await rawCall(
      server.httpPort,
      'GetSession',
      { ...PROTO, 'accept-encoding': 'gzip' },
      getSession('s'),
    );
    assert.equal(gzipped.status, 200);
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    const plain = await rawCall(server.httpPort, 'GetSession', PROTO, getSession('s'));
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(gunzipSync(gzipped.body), plain.body);
    assert.ok(plain.body.length > 30_000);
  });

  it('a gzip-compressed request, and gRPC-Web with JSON bodies', async () => {
    const gzipClient = createClient(
      CodeReviewService,
      createConnectTransport({
        baseUrl: `http://127.0.0.1:${server.httpPort}`,
        httpVersion: '1.1',
        useBinaryFormat: true,
        sendCompression: compressionGzip,
        compressMinBytes: 0,
      }),
    );
    const ack = await gzipClient.submit({
      message: {
        sessionId: 's',
        userId: 'ann',
        clientMessageId: 'gz',
        payload: {
          case: 'comment',
          value: {
            commentId: 'gz',
            action: CommentAction.CREATE,
            filePath: 'a.ts',
            lineNumber: 1,
            text: 'gzip',
          },
        },
      },
    });
    assert.ok(ack.ack?.sequence);
    const jsonWeb = createClient(
      CodeReviewService,
      createGrpcWebTransport({
        baseUrl: `http://127.0.0.1:${server.httpPort}`,
        httpVersion: '1.1',
        useBinaryFormat: false,
      }),
    );
    const comments = await jsonWeb.listComments({ sessionId: 's' });
    assert.deepEqual(
      comments.comments.map((c) => c.text),
      ['gzip'],
    );
    const refused = await jsonWeb.getSession({ sessionId: '' }).then(
      () => assert.fail('answered without a session id'),
      (e: { code: Code }) => e,
    );
    assert.equal(refused.code, Code.InvalidArgument);
  });

  it('clients that leave before their answer do not harm the server', async () => {
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const abort = new AbortController();
        const call = client.submit(
          {
            message: {
              sessionId: 's',
              userId: 'ann',
              clientMessageId: `left-${i}`,
              payload: {
                case: 'comment',
                value: {
                  commentId: `left-${i}`,
                  action: CommentAction.CREATE,
                  filePath: 'a.ts',
                  lineNumber: 2,
                  text: 'x',
                },
              },
            },
          },
          { signal: abort.signal },
        );
        setTimeout(() => abort.abort(), i % 5);
        await call.catch(() => undefined);
      }),
    );
    // Every comment that was committed is there once; the server answers.
    const texts = (await client.listComments({ sessionId: 's' })).comments.filter((c) => c.text === 'x');
    assert.ok(texts.length <= 40);
    assert.equal((await client.getSession({ sessionId: 's' })).sessionId, 's');
  });
});
