// Messages as length-prefixed frames, each broadcast's frame built once. gRPC's message frame and
// the envelope of Connect and gRPC-Web are the same five bytes (a flags byte, a big-endian 32-bit
// length) before the message.
//
// grpc-js framed each message a handler writes (a 5-byte prefix, then a copy of the message) and
// sent it as one write through its call, Node's Writable and the HTTP/2 stream: a broadcast to N
// participants was copied N times, and a participant sent five messages by one commit cost five
// such writes. Written here as frames already, the frames a participant is sent in one turn of the
// event loop go out as one write (OutboundQueue, a `joinable` writer).
import type { Outbound } from '../core/model.js';
import type { Encoders } from './context.js';
import { RecentEncodings } from './recent-encodings.js';

/** A message as one uncompressed frame: the flags (0: a message), its length (big-endian), its
 * bytes. */
export function frame(message: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(message.length + 5);
  out[0] = flags;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The encoder's messages as frames, each broadcast's frame built once (an ack is one
 * participant's: framed, not kept). */
export function framing(
  encode: (msg: Outbound) => Uint8Array | undefined,
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
