// The gRPC streaming methods write gRPC frames already (../framed-encoders.ts: built once per
// broadcast, several written at a time). grpc-js is told not to frame them again: its serializer
// for those methods is `preFramed`, which `installPreFraming` recognises.
import { BaseServerInterceptingCall } from '@grpc/grpc-js/build/src/server-interceptors.js';

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
