// A scripted editor over a real session stream: client-side OT state for the files it sees,
// assembling snapshots, transforming remote edits, one op in flight per file. Incoming messages
// can be processed with delays, so its base versions go stale as a slow client's would.
import type {
  CodeReviewServiceClient,
  SessionMessage,
  TextOperation,
} from '../../src/gen/codereview/v1/codereview.js';
import { SessionMessage as SM } from '../../src/gen/codereview/v1/codereview.js';
import { DocumentState, type PendingOp } from '../../src/client/document-state.js';
import type { TextOp } from '../../src/ot/text.js';
import { Collector, joinSession } from './clients.js';

export function toWireOps(op: TextOp): TextOperation[] {
  return op.map((c) =>
    typeof c === 'number'
      ? { kind: { $case: 'retain' as const, value: c } }
      : typeof c === 'string'
        ? { kind: { $case: 'insert' as const, value: c } }
        : { kind: { $case: 'delete' as const, value: typeof c.d === 'number' ? c.d : [...c.d].length } },
  );
}

export function fromWireOps(ops: TextOperation[]): TextOp {
  return ops.map((o) => {
    const k = o.kind!;
    return k.$case === 'retain' ? k.value : k.$case === 'insert' ? k.value : { d: k.value };
  });
}

export class TestEditor {
  readonly docs = new Map<string, DocumentState>();
  readonly call;
  readonly got: Collector<SessionMessage>;
  lastSeq = 0;
  ready: Promise<void>;
  private markReady!: () => void;
  private snapshotParts = new Map<string, { version: number; text: string }>();
  private inbox: SessionMessage[] = [];
  private processing = false;
  private messageIds = 0;
  readonly errors: SessionMessage[] = [];

  constructor(
    client: CodeReviewServiceClient,
    readonly sessionId: string,
    readonly userId: string,
    readonly clientId: string,
    private readonly processDelay: () => number = () => 0,
    resumeAfter?: number,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    const joined = joinSession(client, sessionId, userId, { clientId, resumeAfter });
    this.call = joined.call;
    this.got = joined.got;
    this.call.on('data', (m: SessionMessage) => {
      this.inbox.push(m);
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    while (this.inbox.length > 0) {
      const delay = this.processDelay();
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      this.handle(this.inbox.shift()!);
    }
    this.processing = false;
  }

  private nextId = () => `${this.clientId}-${++this.messageIds}`;

  private handle(m: SessionMessage): void {
    if (m.sequence > 0) this.lastSeq = Math.max(this.lastSeq, m.sequence);
    const p = m.payload;
    switch (p?.$case) {
      case 'welcome':
        if (p.value.sync === 2) this.markReady(); // resumed: events follow
        if (p.value.headSequence === 0 && p.value.sync === 1) this.lastSeq = 0;
        return;
      case 'snapshot': {
        for (const f of p.value.files) {
          const prev = this.snapshotParts.get(f.path);
          this.snapshotParts.set(f.path, {
            version: f.version,
            text: (f.continued && prev ? prev.text : '') + f.text,
          });
        }
        if (p.value.index + 1 === p.value.count) {
          for (const [path, f] of this.snapshotParts)
            this.docs.set(path, new DocumentState(path, f.text, f.version));
          this.snapshotParts.clear();
          this.lastSeq = p.value.sequence;
          this.markReady();
        }
        return;
      }
      case 'fileOpened':
        this.docs.set(p.value.path, new DocumentState(p.value.path, p.value.text, p.value.version));
        return;
      case 'edit': {
        const doc = this.docs.get(p.value.filePath) ?? new DocumentState(p.value.filePath, '', 0);
        this.docs.set(p.value.filePath, doc);
        doc.applyRemote(fromWireOps(p.value.operations), p.value.version);
        return;
      }
      case 'ack': {
        const doc = this.docs.get(p.value.filePath);
        if (doc && doc.pending?.clientMessageId === p.value.clientMessageId) {
          const next = doc.acknowledge(p.value.version, this.nextId);
          if (next) this.send(doc.path, next);
        }
        return;
      }
      case 'error':
        this.errors.push(m);
        return;
      default:
        return;
    }
  }

  edit(path: string, makeOp: (text: string) => TextOp | undefined): void {
    const doc = this.docs.get(path);
    if (!doc) throw new Error(`${this.clientId} has no ${path}`);
    const op = makeOp(doc.text);
    if (!op || op.length === 0) return;
    const toSend = doc.applyLocal(op, this.nextId);
    if (toSend) this.send(path, toSend);
  }

  private send(path: string, p: PendingOp): void {
    this.call.write(
      SM.fromPartial({
        clientMessageId: p.clientMessageId,
        payload: {
          $case: 'edit',
          value: { filePath: path, version: p.baseVersion, operations: toWireOps(p.op) },
        },
      }),
    );
  }

  /** Resolves once every local op is acknowledged and the file is at `version`. */
  async settled(path: string, version: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const doc = this.docs.get(path);
      if (doc && doc.synced && doc.version === version && this.inbox.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.clientId} did not settle: version ${doc?.version} of ${version}, synced=${doc?.synced}, errors=${this.errors.length}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  text(path: string): string {
    return this.docs.get(path)!.text;
  }

  close(): void {
    this.call.end();
  }
}
