// gRPC frames built once per broadcast, and written several at a time. grpc-js frames each message
// a handler writes (a 5-byte prefix, then a copy of the message) and sends it as one write through
// its call, Node's Writable and the HTTP/2 stream. A broadcast to N participants was copied N times,
// and a participant sent five messages by one commit cost five such writes.
//
// The streaming methods' responses are written here as frames already: built once per message
// (the encoders cache them like the messages' bytes), and the frames a participant is sent in one
// turn of the event loop go out as one write (OutboundQueue, a `joinable` writer). grpc-js is told
// not to frame them again: its serializer for those methods is `preFramed`, which
// `installPreFraming` recognises.
import { BaseServerInterceptingCall } from '@grpc/grpc-js/build/src/server-interceptors.js';
import type { Outbound } from '../../core/model.js';
import type { Encoders } from '../context.js';
import { RecentEncodings } from '../recent-encodings.js';

/** The response serializer of the streaming methods: what they write is gRPC frames already. */
export const preFramed = (frames: Buffer): Buffer => frames;

type SerializeMessage = (this: { handler: { serialize: unknown } }, value: unknown) => Buffer;

let installed = false;

/** Makes grpc-js pass the writes of methods serialized by `preFramed` through as they are. */
export function installPreFraming(): void {
  if (installed) return;
  const proto = BaseServerInterceptingCall.prototype as unknown as { serializeMessage?: SerializeMessage };
  const serializeMessage = proto.serializeMessage;
  if (typeof serializeMessage !== 'function') {
    // Without it every streamed message would be framed twice: fail at start, not on the wire.
    throw new Error(
      'this @grpc/grpc-js has no BaseServerInterceptingCall.serializeMessage: see src/transport/grpc/framed-messages.ts',
    );
  }
  installed = true;
  proto.serializeMessage = function (value) {
    return this.handler.serialize === preFramed ? (value as Buffer) : serializeMessage.call(this, value);
  };
}

/** A message as one uncompressed gRPC frame: a zero flag, its length (big-endian), its bytes. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 5);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** The encoder's messages as frames, each broadcast's frame built once (an ack is one
 * participant's: framed, not kept). */
export function framing(
  encode: (msg: Outbound) => Buffer | undefined,
): (msg: Outbound) => Buffer | undefined {
  const frames = new RecentEncodings<Buffer>();
  return (msg) => {
    if (msg.type === 'ack') {
      const bytes = encode(msg);
      return bytes && frame(bytes);
    }
    let framed = frames.get(msg);
    if (framed) return framed;
    const bytes = encode(msg);
    if (!bytes) return undefined;
    framed = frame(bytes);
    frames.set(msg, framed);
    return framed;
  };
}

/** The encoders, writing frames (for the gRPC streaming methods). */
export function framedEncoders(encoders: Encoders): Encoders {
  return {
    session: framing(encoders.session) as Encoders['session'],
    opsOnly: framing(encoders.opsOnly) as Encoders['opsOnly'],
    seed: framing(encoders.seed),
    subscribe: framing(encoders.subscribe) as Encoders['subscribe'],
  };
}
