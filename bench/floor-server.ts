// The floor: a bare @grpc/grpc-js broadcast server on the same .proto — join by the first message,
// then every message is encoded once and written to the other participants of its session. No OT,
// no store, no acks, no back-pressure handling, no metrics: what any server of this contract must at
// least spend. Run: node dist/bench/floor-server.js <port> [--ack]
//
// With `--ack` the floor also answers each message's sender with an ack (a sequence number per
// session), as the contract asks of any server of it: what the acks alone cost a broadcast server.
import * as grpc from '@grpc/grpc-js';
import { CodeReviewServiceService, SessionMessage } from '../src/gen/codereview/v1/codereview.js';

type Call = grpc.ServerDuplexStream<SessionMessage, Buffer>;
const sessions = new Map<string, Set<Call>>();
const acking = process.argv.includes('--ack');
const sequences = new Map<string, number>();

function encode(m: SessionMessage): Buffer {
  const u8 = SessionMessage.encode(m).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function collaborativeSession(call: Call): void {
  let members: Set<Call> | undefined;
  let sessionId = '';
  let userId = '';
  let clientId = '';
  call.on('data', (m: SessionMessage) => {
    if (!members) {
      sessionId = m.sessionId;
      userId = m.userId;
      clientId = m.payload?.$case === 'join' ? m.payload.value.clientId : userId;
      members = sessions.get(sessionId) ?? new Set();
      sessions.set(sessionId, members);
      members.add(call);
      call.write(
        encode(
          SessionMessage.fromPartial({
            sessionId,
            payload: { $case: 'welcome', value: { participantId: clientId } },
          }),
        ),
      );
      return;
    }
    m.sessionId = sessionId;
    m.userId = userId;
    m.clientId = clientId;
    m.timestamp = Date.now();
    const bytes = encode(m);
    for (const other of members) if (other !== call) other.write(bytes);
    if (acking && m.clientMessageId) {
      const sequence = (sequences.get(sessionId) ?? 0) + 1;
      sequences.set(sessionId, sequence);
      const filePath = m.payload?.$case === 'edit' ? m.payload.value.filePath : '';
      call.write(
        encode(
          SessionMessage.fromPartial({
            sessionId,
            payload: {
              $case: 'ack',
              value: { clientMessageId: m.clientMessageId, sequence, version: sequence, filePath },
            },
          }),
        ),
      );
    }
  });
  const leave = () => {
    members?.delete(call);
    if (members?.size === 0) {
      sessions.delete(sessionId);
      sequences.delete(sessionId);
    }
  };
  call.on('end', () => {
    leave();
    call.end();
  });
  call.on('cancelled', leave);
  call.on('error', leave);
}

const definition = {
  collaborativeSession: {
    ...CodeReviewServiceService.collaborativeSession,
    responseSerialize: (b: Buffer) => b,
  },
} as unknown as grpc.ServiceDefinition;

const server = new grpc.Server({ 'grpc.max_receive_message_length': 1 << 20 });
server.addService(definition, { collaborativeSession } as unknown as grpc.UntypedServiceImplementation);
server.bindAsync(
  `127.0.0.1:${process.argv[2] ?? 0}`,
  grpc.ServerCredentials.createInsecure(),
  (err, port) => {
    if (err) throw err;
    process.stderr.write(`floor listening on 127.0.0.1:${port}\n`);
  },
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.forceShutdown());
