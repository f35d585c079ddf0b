// What the server reads from a gRPC call's metadata: the correlation id (in every log line about
// the call, echoed to the client) and the authorization header.
import { randomUUID } from 'node:crypto';
import {
  Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';

type AnyCall =
  | ServerDuplexStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerUnaryCall<unknown, unknown>;

/** The call's correlation id: the client's x-request-id, or a new one; echoed in response metadata. */
export function correlate(call: AnyCall): string {
  const given = call.metadata.get('x-request-id')[0];
  const cid = typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
  const md = new Metadata();
  md.set('x-request-id', cid);
  call.sendMetadata(md);
  return cid;
}

/** The call's `authorization` metadata (a bearer token), if any. */
export function authorizationOf(call: AnyCall): string | undefined {
  const value = call.metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}
