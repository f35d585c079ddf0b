// Clients for tests: one built from the frozen seed .proto verbatim (what a third party would
// generate), and ours from src/gen. Plus a collector that waits for expected messages.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  CodeReviewServiceClient,
  CodeReviewServiceService,
  SessionMessage,
  type GetSessionResponse,
} from '../../src/gen/codereview/v1/codereview.js';

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

/** Our generated client, except that requests may leave fields out (filled with their defaults,
 * as fromPartial does): tests write only the fields they care about. */
const LenientClient = grpc.makeGenericClientConstructor(
  Object.fromEntries(
    Object.entries(CodeReviewServiceService).map(([name, method]) => [
      name,
      {
        ...method,
        // Defaults are what an empty message decodes to.
        requestSerialize: (value: object) =>
          (method.requestSerialize as (v: unknown) => Buffer)({
            ...(method.requestDeserialize as (b: Buffer) => object)(Buffer.alloc(0)),
            ...value,
          }),
      },
    ]),
  ) as unknown as grpc.ServiceDefinition,
  'codereview.v1.CodeReviewService',
) as unknown as typeof CodeReviewServiceClient;

export function ourClient(address: string, options: grpc.ClientOptions = {}) {
  return new LenientClient(address, grpc.credentials.createInsecure(), options);
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
  /** Fields left out take their defaults (ourClient's requests are lenient). */
  req: Partial<Req>,
  opts: grpc.CallOptions = {},
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(req as Req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res))),
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

/** A whole session through GetSession's pages: each file's text reassembled, every comment. */
export async function readWholeSession(
  client: CodeReviewServiceClient,
  sessionId: string,
  opts: grpc.CallOptions = {},
  md: () => grpc.Metadata = () => new grpc.Metadata(),
) {
  const files = new Map<string, { path: string; version: number; text: string }>();
  const comments: GetSessionResponse['comments'] = [];
  let first: GetSessionResponse | undefined;
  let pageToken = '';
  do {
    const page = await new Promise<GetSessionResponse>((resolve, reject) =>
      client.getSession({ sessionId, pageSize: 0, pageToken }, md(), opts, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
    first ??= page;
    for (const f of page.files) {
      const known = f.continued ? files.get(f.path) : undefined;
      files.set(f.path, { path: f.path, version: f.version, text: (known?.text ?? '') + f.text });
    }
    comments.push(...page.comments);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { ...first, files: [...files.values()], comments };
}
