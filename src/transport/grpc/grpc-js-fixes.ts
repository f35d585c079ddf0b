// Two workarounds for grpc-js (1.14.7, the newest release), installed once per process.
//
// **A write after the stream's end.** When grpc-js ends a call with a status of its own — a
// received message over grpc.max_receive_message_length, or the call's deadline — it ends the
// HTTP/2 stream and sends the status as trailers once the data queued before it has gone out. A
// message the handler writes in between (a broadcast, on a live session stream) is a write after
// end: the HTTP/2 stream errors, its trailers never go out, and the client waits for a status until
// its own deadline (found by test/fuzz.test.ts; reproduced with grpc-js alone: a bidi handler
// writing 40 KB messages, a client sending one message over the limit — 19 of 20 calls never got
// a status). The fix drops what is written after the stream's end, which grpc-js would never send
// anyway. Remove it once grpc-js checks this itself.
//
// **What a stream's decoder keeps between messages.** grpc-js's StreamDecoder keeps, in fields of
// the call's long-lived decoder, a slice of the last chunk it read (the message's compression
// flag) and the array of the last message's parts, until the stream's next message replaces them.
// At human typing speed that is a fifth of a second or more: long enough for both, and the chunk
// the slice holds, to be promoted to the old generation as they are for every message on every
// stream — the largest share of what filled it between major collections once LiveReview's own
// was gone (docs/benchmarks.md, "2026-12-03, afternoon: the p99 was the major collections"). Once a message
// is complete the decoder is pointed at shared placeholders instead; the next message replaces
// them as before.
import { BaseServerInterceptingCall } from '@grpc/grpc-js/build/src/server-interceptors.js';
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder.js';

interface CallInternals {
  stream?: { writableEnded?: boolean };
}
type SendMessage = (this: CallInternals, message: unknown, callback: () => void) => void;

interface DecoderInternals {
  readState?: unknown;
  readCompressFlag?: Buffer;
  readPartialMessage?: Buffer[];
}
type DecoderWrite = (this: DecoderInternals, data: Buffer) => Buffer[];
/** StreamDecoder's state between messages (its ReadState.NO_DATA). */
const BETWEEN_MESSAGES = 0;
const NO_FLAG = Buffer.alloc(1);
/** Frozen: the decoder starts every message with a new array, never pushing into this one. */
const NO_PARTS = Object.freeze([]) as unknown as Buffer[];

let installed = false;

export function installGrpcJsFixes(): void {
  if (installed) return;
  installed = true;
  const proto = BaseServerInterceptingCall.prototype as unknown as { sendMessage: SendMessage };
  const sendMessage = proto.sendMessage;
  proto.sendMessage = function (message, callback) {
    if (this.stream?.writableEnded === true) {
      callback();
      return;
    }
    sendMessage.call(this, message, callback);
  };

  const decoder = StreamDecoder.prototype as unknown as { write: DecoderWrite };
  const write = decoder.write;
  decoder.write = function (data) {
    const messages = write.call(this, data);
    if (this.readState === BETWEEN_MESSAGES && Array.isArray(this.readPartialMessage)) {
      this.readCompressFlag = NO_FLAG;
      this.readPartialMessage = NO_PARTS;
    }
    return messages;
  };
}
