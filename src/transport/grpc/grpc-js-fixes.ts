// A workaround for a grpc-js server bug (seen in 1.14.7, the newest release): when grpc-js ends a
// call with a status of its own — a received message over grpc.max_receive_message_length, or the
// call's deadline — it ends the HTTP/2 stream and sends the status as trailers once the data queued
// before it has gone out. A message the handler writes in between (a broadcast, on a live session
// stream) is a write after end: the HTTP/2 stream errors, its trailers never go out, and the client
// waits for a status until its own deadline (found by test/fuzz.test.ts; reproduced with grpc-js
// alone: a bidi handler writing 40 KB messages, a client sending one message over the limit — 19
// of 20 calls never got a status). The fix drops what is written after the stream's end, which
// grpc-js would never send anyway. Remove it once grpc-js checks this itself.
import { BaseServerInterceptingCall } from '@grpc/grpc-js/build/src/server-interceptors.js';

interface CallInternals {
  stream?: { writableEnded?: boolean };
}
type SendMessage = (this: CallInternals, message: unknown, callback: () => void) => void;

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
}
