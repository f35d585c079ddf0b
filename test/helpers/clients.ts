// Clients for tests: one built from the frozen seed .proto verbatim (what a third party would
// generate), and ours from src/gen. Plus a collector that waits for expected messages.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CodeReviewServiceClient, SessionMessage } from '../../src/gen/codereview/v1/codereview.js';

const SEED_PROTO = fileURLToPath(
  new URL('../../../proto/baseline/codereview/v1/codereview.proto', import.meta.url),
);

/** A message as the seed's proto-loader client sees it (snake_case, enum names, oneof name). */
export interface SeedMessage {
  session_id: string;
  timestamp: number;
  user_id: string;
  payload?: 'edit' | 'comment' | 'cursor' | 'presence';
  edit?: { file_path: string; line_number: number; content: string; version: number };
  comment?: { comment_id: string; line_number: number; text: string };
  cursor?: { file_path: string; line: number; column: number };
  presence?: { status: 'JOINED' | 'ACTIVE' | 'IDLE' | 'LEFT' };
}

type SeedStream = grpc.ClientDuplexStream<Partial<SeedMessage>, SeedMessage>;
type SeedClientCtor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client & {
  CollaborativeSession(options?: grpc.CallOptions): SeedStream;
  CollaborativeSession(metadata: grpc.Metadata, options?: grpc.CallOptions): SeedStream;
};

let seedCtor: SeedClientCtor | undefined;
export function seedClient(address: string, options: grpc.ClientOptions = {}) {
  if (!seedCtor) {
    const def = protoLoader.loadSync(SEED_PROTO, {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      codereview: { v1: { CodeReviewService: SeedClientCtor } };
    };
    seedCtor = pkg.codereview.v1.CodeReviewService;
  }
  return new seedCtor(address, grpc.credentials.createInsecure(), options);
}

export function ourClient(address: string, options: grpc.ClientOptions = {}) {
  return new CodeReviewServiceClient(address, grpc.credentials.createInsecure(), options);
}

export interface Ended {
  code: number;
  details: string;
  metadata: grpc.Metadata | undefined;
}

/** Collects what a stream receives and how it ends; `waitFor` resolves on the first message (from
 * `from` on) that matches. Times out with a description instead of hanging a test. */
export class Collector<T> {
  readonly messages: T[] = [];
  ended: Ended | undefined;
  private waiters: { check: () => boolean }[] = [];

  constructor(stream: NodeJS.EventEmitter) {
    stream.on('data', (m: T) => {
      this.messages.push(m);
      this.poke();
    });
    stream.on('error', (e: grpc.ServiceError) => {
      this.ended ??= { code: e.code, details: e.details, metadata: e.metadata };
      this.poke();
    });
    stream.on('status', (s: grpc.StatusObject) => {
      this.ended ??= { code: s.code, details: s.details, metadata: s.metadata };
      this.poke();
    });
  }

  private poke(): void {
    this.waiters = this.waiters.filter((w) => !w.check());
  }

  waitFor<S extends T>(
    predicate: (m: T) => m is S,
    what: string,
    timeoutMs?: number,
    from?: number,
  ): Promise<S>;
  waitFor(predicate: (m: T) => boolean, what: string, timeoutMs?: number, from?: number): Promise<T>;
  waitFor(predicate: (m: T) => boolean, what: string, timeoutMs = 10_000, from = 0): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; got ${this.messages.length} messages, ended=${JSON.stringify(this.ended?.code)}`,
            ),
          ),
        timeoutMs,
      );
      const check = () => {
        const found = this.messages.slice(from).find(predicate);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
          return true;
        }
        return false;
      };
      if (!check()) this.waiters.push({ check });
    });
  }

  waitForEnd(what = 'the stream to end', timeoutMs = 10_000): Promise<Ended> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (this.ended) {
          clearTimeout(timer);
          resolve(this.ended);
          return true;
        }
        return false;
      };
      if (!check()) this.waiters.push({ check });
    });
  }
}

export function isCase<C extends NonNullable<SessionMessage['payload']>['$case']>(c: C) {
  return (
    m: SessionMessage,
  ): m is SessionMessage & { payload: Extract<SessionMessage['payload'], { $case: C }> } =>
    m.payload?.$case === c;
}

export interface JoinOptions {
  clientId?: string;
  resumeAfter?: number;
  deadline?: number;
  metadata?: grpc.Metadata;
  /** Join capabilities (default: ops). */
  capabilities?: string[];
}

/** Opens a session stream with our client and sends a rich join. */
export function joinSession(
  client: CodeReviewServiceClient,
  sessionId: string,
  userId: string,
  options: JoinOptions = {},
) {
  const call = client.collaborativeSession(options.metadata ?? new grpc.Metadata(), {
    ...(options.deadline ? { deadline: options.deadline } : {}),
  });
  const got = new Collector<SessionMessage>(call);
  call.write(
    SessionMessage.fromPartial({
      sessionId,
      userId,
      payload: {
        $case: 'join',
        value: {
          clientId: options.clientId ?? '',
          resumeAfterSequence: options.resumeAfter,
          capabilities: options.capabilities ?? ['ops'],
        },
      },
    }),
  );
  return { call, got };
}

export function unaryCall<Req, Res>(
  fn: (
    req: Req,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: Res) => void,
  ) => unknown,
  req: Req,
  opts: grpc.CallOptions = {},
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/** Opens a review (OpenReview) with these files, as user "a". */
export function openReview(
  client: CodeReviewServiceClient,
  sessionId: string,
  files: { path: string; text: string }[],
) {
  return unaryCall(client.openReview.bind(client), { sessionId, userId: 'a', clientMessageId: 'o', files });
}
