// The SDK core's Transport in the half-duplex shape a browser uses (Subscribe to receive, one Submit
// per message), here over grpc-js against the real server: it shows the interface fits that shape,
// and is what a Connect/gRPC-Web transport over fetch does with another wire.
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  CodeReviewService,
  SubmitRequestSchema,
  SubmitResponseSchema,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
  type SessionMessage,
} from '../../src/gen/es/codereview/v1/codereview_pb.js';
import { callError, GrpcTransport } from '../../src/client/transport/grpc.js';
import type { CallOptions, JoinParams, SessionStream, Transport } from '../../src/client/core/transport.js';

const codec = <D extends DescMessage>(schema: D) => ({
  serialize: (m: MessageShape<D>) => Buffer.from(toBinary(schema, m)),
  deserialize: (b: Buffer) => fromBinary(schema, b),
});
const path = (name: string) => `/${CodeReviewService.typeName}/${name}`;

export class HalfDuplexTransport implements Transport {
  private readonly client: grpc.Client;
  private readonly unary: GrpcTransport;

  constructor(target: string) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure());
    this.unary = new GrpcTransport({ targets: [target] });
  }

  open(join: JoinParams, options: CallOptions): SessionStream {
    const sub = codec(SubscribeRequestSchema);
    const res = codec(SubscribeResponseSchema);
    const call = this.client.makeServerStreamRequest(
      path('Subscribe'),
      sub.serialize,
      res.deserialize,
      create(SubscribeRequestSchema, {
        sessionId: join.sessionId,
        userId: join.userId,
        clientId: join.clientId,
        resumeAfterSequence:
          join.resumeAfterSequence === undefined ? undefined : BigInt(join.resumeAfterSequence),
      }),
    );
    options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    async function* messages(): AsyncGenerator<SessionMessage> {
      try {
        for await (const r of call as AsyncIterable<MessageShape<typeof SubscribeResponseSchema>>) {
          if (r.message) yield r.message;
        }
      } catch (err) {
        const e = err as grpc.ServiceError;
        throw callError(e.code, e.details, e.metadata);
      }
    }
    return {
      messages: messages(),
      send: (m) => {
        // A Subscribe call cannot take a fresh token: it is asked for at every Submit instead.
        if (m.payload.case === 'tokenRefresh') return;
        return this.submit(
          create(SubmitRequestSchema, {
            message: { ...m, sessionId: join.sessionId, userId: join.userId, clientId: join.clientId },
          }),
        );
      },
      close: () => call.cancel(),
    };
  }

  private submit(request: MessageShape<typeof SubmitRequestSchema>) {
    const req = codec(SubmitRequestSchema);
    const res = codec(SubmitResponseSchema);
    return new Promise<NonNullable<MessageShape<typeof SubmitResponseSchema>['ack']>>((resolve, reject) =>
      this.client.makeUnaryRequest(
        path('Submit'),
        req.serialize,
        res.deserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (err, value) => (err ? reject(callError(err.code, err.details, err.metadata)) : resolve(value!.ack!)),
      ),
    );
  }

  openReview: Transport['openReview'] = (r, o) => this.unary.openReview(r, o);
  getSession: Transport['getSession'] = (r, o) => this.unary.getSession(r, o);
  listComments: Transport['listComments'] = (r, o) => this.unary.listComments(r, o);
  getFileAt: Transport['getFileAt'] = (r, o) => this.unary.getFileAt(r, o);
  exportReview: Transport['exportReview'] = (r, o) => this.unary.exportReview(r, o);

  close(): void {
    this.unary.close();
    this.client.close();
  }
}
