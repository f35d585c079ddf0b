// Request bytes that are not the method's request message: every method answers INVALID_ARGUMENT
// (MALFORMED_REQUEST, with BadRequest), not INTERNAL, and the server goes on serving.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { openReview, unaryCall } from './helpers/clients.js';
import { serverFixture } from './helpers/server.js';
import { decodeDetails } from './helpers/status-details.js';

const SERVICE = '/codereview.v1.CodeReviewService/';

function varint(n: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    if (n === 0n) return [...out, low];
    out.push(low | 0x80);
  }
}

const GARBAGE: Record<string, number[]> = {
  'a length running past the end': [0x0a, 0x05, 0x61],
  'wire type 7': [0x0f],
  'a varint that never ends': [0x08, ...Array<number>(10).fill(0xff)],
  'a group that never closes': [0x0b],
};

/** Per method, encodings that are well-formed protobuf but carry an int64 beyond 2^53. */
const HUGE_INT64: Record<string, number[]> = {
  Subscribe: [0x0a, 0x01, 0x73, 0x20, ...varint(2n ** 60n)],
  Submit: (() => {
    const inner = [0x0a, 0x01, 0x73, 0x40, ...varint(2n ** 60n)];
    return [0x0a, inner.length, ...inner];
  })(),
};

describe('malformed requests', () => {
  const fx = serverFixture({ logLevel: 'warn' });

  const call = (method: string, bytes: number[]) =>
    new Promise<grpc.ServiceError | grpc.StatusObject>((resolve) => {
      const raw = new grpc.Client(fx.server.address, grpc.credentials.createInsecure());
      const deadline = Date.now() + 10_000;
      const done = (s: grpc.ServiceError | grpc.StatusObject) => {
        raw.close();
        resolve(s);
      };
      const identity = (b: Buffer) => b;
      if (method === 'Subscribe') {
        const stream = raw.makeServerStreamRequest(SERVICE + method, identity, identity, Buffer.from(bytes), {
          deadline,
        });
        stream.on('data', () => undefined);
        stream.on('error', done);
        stream.on('status', (s: grpc.StatusObject) => s.code === grpc.status.OK && done(s));
      } else {
        raw.makeUnaryRequest(
          SERVICE + method,
          identity,
          identity,
          Buffer.from(bytes),
          new grpc.Metadata(),
          { deadline },
          (err) => done(err ?? { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() }),
        );
      }
    });

  for (const method of ['OpenReview', 'GetSession', 'ListComments', 'Submit', 'Subscribe']) {
    it(`answers ${method} bytes that do not decode with INVALID_ARGUMENT and BadRequest`, async () => {
      const cases = {
        ...GARBAGE,
        ...(HUGE_INT64[method] ? { 'an int64 beyond 2^53': HUGE_INT64[method] } : {}),
      };
      for (const [what, bytes] of Object.entries(cases)) {
        const status = await call(method, bytes);
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT, `${method}, ${what}: ${status.details}`);
        const details = decodeDetails(status.metadata);
        assert.equal(details?.errorInfo?.reason, 'MALFORMED_REQUEST', `${method}, ${what}`);
        assert.ok(details?.badRequest?.fieldViolations.length, `${method}, ${what}: BadRequest`);
      }
      await openReview(fx.client, `after-${method}`, [{ path: 'f', text: 'x\n' }]);
      const state = await unaryCall(fx.client.getSession.bind(fx.client), { sessionId: `after-${method}` });
      assert.equal(state.files[0]?.text, 'x\n', 'the server goes on serving');
    });
  }
});
