// The room of a session: who is here (participants of this instance, and of other instances as
// the bus reports them), how a joiner is brought up to date, presence, cursors, and the fan-out of
// committed events to this instance's participants. The room is fed committed events whatever
// their origin — a commit of this instance, the bus, a read of the log — through publish(), in
// sequence order.
import type { Clock } from './clock.js';
import type { ContentLimits } from './content-limits.js';
import type { FileDocument } from './document.js';
import { LiveReviewError, asLiveReviewError, storeUnavailable, type QuotaViolation } from './errors.js';
import type {
  CursorCommand,
  CursorView,
  LoggedEvent,
  Outbound,
  ParticipantView,
  PresenceStatus,
  WelcomeView,
} from './model.js';
import { ackOf } from './dedupe.js';
import { echoesToOrigin } from './review-commands.js';
import type { CursorPlace, Participant } from './participant.js';
import type { SessionState, Undo } from './session-state.js';
import { buildSnapshotChunks } from './snapshot.js';
import { seedCatchUp, seedMessagesOf } from './seed-vocabulary.js';
import type { Store } from './store.js';
import { checkLine, checkPath, checkVersion } from './validate.js';
import { offsetOf } from '../ot/lines.js';
import { transformPosition } from '../ot/text.js';

export interface RoomConfig {
  /** What a session may hold and how much work one message may cause. */
  limits: ContentLimits;
  /** A participant quiet for this long is shown IDLE. */
  idleAfterMs: number;
  maxParticipantsPerSession: number;
  /** Content characters per snapshot chunk. */
  snapshotChunkChars: number;
  /** Events read from the store per step while a participant catches up. */
  catchUpBatch: number;
  /** Presence changes within this window after one was sent go out together (0: each at once). */
  presenceBatchMs: number;
}

/** What the room tells other instances (cluster mode): its participants' presence and cursors. */
export interface RoomRelay {
  presence(view: ParticipantView): void;
  cursor(view: CursorView): void;
}

/** A participant connected to another instance, as its instance reports it. */
interface RemoteParticipant {
  view: ParticipantView;
  instanceId: string;
  cursor: CursorPlace | undefined;
}

export interface RoomDeps {
  sessionId: string;
  state: SessionState;
  store: Store;
  clock: Clock;
  config: RoomConfig;
  /** The last sequence number known durable. */
  committedHead(): number;
  published?(event: LoggedEvent, recipients: number): void;
  relay?: RoomRelay;
}

export class Room {
  /** Participants of this instance, by participant id. */
  readonly participants = new Map<string, Participant>();
  private readonly remote = new Map<string, RemoteParticipant>();
  /** Presence changes not yet sent, latest state per participant (see broadcastPresence). */
  private pendingPresence = new Map<string, ParticipantView>();
  private presenceTimer: { cancel(): void } | undefined;
  private lastPresenceSentAt = -Infinity;
  /** When the room last had no participants of this instance (for eviction), or undefined. */
  emptySince: number | undefined;

  constructor(private readonly deps: RoomDeps) {
    this.emptySince = deps.clock.now();
  }

  private get id(): string {
    return this.deps.sessionId;
  }

  /** Everyone present: this instance's participants and the other instances'. */
  roster(): ParticipantView[] {
    return [...[...this.participants.values()].map((p) => p.view()), ...this.remoteViews()];
  }

  private remoteViews(): ParticipantView[] {
    return [...this.remote.values()].map((r) => r.view);
  }

  // ---- joining ----------------------------------------------------------------------------------

  /** Adds a participant and brings it up to date: a snapshot (or, for a seed client, the same state
   * in seed messages), or the events after its resume position, then live events. Must run between
   * batches (in the session's mailbox) so what it sends is exactly the committed state. */
  async join(p: Participant, resumeAfter: number | undefined): Promise<WelcomeView> {
    if (p.left) throw new LiveReviewError('CANCELLED', 'left before the join was handled');
    const { config, store } = this.deps;
    const head = this.deps.committedHead();
    if (this.participants.size + this.remote.size >= config.maxParticipantsPerSession) {
      const violation: QuotaViolation = {
        subject: `session:${this.id}`,
        description: `at most ${config.maxParticipantsPerSession} participants per session`,
      };
      throw new LiveReviewError('SESSION_FULL', violation.description, {
        quotaViolations: [violation],
        retryAfterMs: 5000,
      });
    }
    // A client id is the client's own only together with its user: the same user joining again
    // with it supersedes its older stream; another user naming it (client ids are visible in
    // events) gets a participant of its own and disturbs nobody.
    for (let n = 2; this.holderOf(p.id, p.userId) === 'someone else'; n++) p.id = `${p.clientId}~${n}`;
    const previous = this.participants.get(p.id);
    if (previous) {
      previous.sink.close(new LiveReviewError('SUPERSEDED', `client ${p.id} joined again on another stream`));
      this.leave(previous);
    }
    let sync: WelcomeView['sync'] = 'snapshot';
    let syncReason = '';
    if (resumeAfter !== undefined) {
      const firstRetained = await store.firstRetainedSeq(this.id).catch((err: unknown) => {
        throw storeUnavailable(err);
      });
      if (resumeAfter > head) {
        syncReason = `resume position ${resumeAfter} is ahead of the session (at ${head})`;
      } else if (resumeAfter + 1 < firstRetained) {
        syncReason = `resume position ${resumeAfter} is no longer retained (oldest ${firstRetained})`;
      } else {
        sync = 'resume';
      }
    }
    this.participants.set(p.id, p);
    this.remote.delete(p.id);
    this.emptySince = undefined;
    this.broadcastPresence(p.view());
    const welcome: WelcomeView = {
      participantId: p.id,
      headSequence: head,
      sync,
      syncReason,
      roster: this.roster(),
      cursors: this.cursorViews(),
    };
    if (p.vocabulary === 'seed') {
      for (const msg of seedCatchUp(this.id, this.deps.state, welcome, this.deps.clock.now()))
        p.sink.send(msg);
      p.lastSeq = head;
    } else {
      p.sink.send({ type: 'welcome', sessionId: this.id, welcome });
      if (sync === 'snapshot') {
        const { state } = this.deps;
        const chunks = buildSnapshotChunks(
          head,
          state.fileViews(),
          state.commentViews(true),
          config.snapshotChunkChars,
          { verdicts: state.review.verdictViews(), viewed: state.review.viewedViews() },
        );
        for (const chunk of chunks) p.sink.send({ type: 'snapshot', sessionId: this.id, chunk });
        p.lastSeq = head;
      } else {
        p.lastSeq = resumeAfter!;
      }
    }
    void this.catchUp(p);
    return welcome;
  }

  /** Whether a participant id is free, held by this user, or held by someone else (here or on
   * another instance). */
  private holderOf(id: string, userId: string): 'free' | 'same user' | 'someone else' {
    const holder = this.participants.get(id)?.userId ?? this.remote.get(id)?.view.userId;
    return holder === undefined ? 'free' : holder === userId ? 'same user' : 'someone else';
  }

  /** This instance's participant of a user's client (the client's Subscribe call, for a Submit). */
  participantOf(userId: string, clientId: string): Participant | undefined {
    for (const p of this.participants.values()) if (p.userId === userId && p.clientId === clientId) return p;
    return undefined;
  }

  /** Sends a participant the logged events it has not seen, one at a time as its sink has room,
   * until it has caught up with the committed head; from then on it receives events live. */
  private async catchUp(p: Participant): Promise<void> {
    const { store, config } = this.deps;
    try {
      while (!p.left && !p.sink.closed) {
        if (p.lastSeq >= this.deps.committedHead()) {
          p.live = true;
          return;
        }
        const events = await store
          .readEvents(this.id, p.lastSeq, config.catchUpBatch)
          .catch((err: unknown) => {
            throw storeUnavailable(err);
          });
        if (events.length === 0) {
          throw new LiveReviewError('INTERNAL', `log of ${this.id} ends before ${this.deps.committedHead()}`);
        }
        for (const event of events) {
          // Paced by the sink's byte and message bounds: a resume through large events never
          // overflows the queue it is filling.
          await p.sink.ready();
          if (p.left || p.sink.closed) return;
          if (event.seq <= p.lastSeq) continue;
          this.deliver(p, event, undefined, p.vocabulary === 'seed' ? seedMessagesOf(event) : undefined);
        }
      }
    } catch (err) {
      p.sink.close(asLiveReviewError(err));
    }
  }

  /** Removes a participant of this instance (stream ended, cancelled, cut off): LEFT to the others. */
  leave(p: Participant): void {
    if (p.left) return;
    p.left = true;
    if (this.participants.get(p.id) !== p) return;
    this.participants.delete(p.id);
    p.status = 'left';
    this.broadcastPresence(p.view());
    if (this.participants.size === 0) this.emptySince = this.deps.clock.now();
  }

  // ---- presence ---------------------------------------------------------------------------------

  /** Records activity; a participant shown IDLE becomes ACTIVE again. */
  touch(p: Participant): void {
    p.lastActiveAt = this.deps.clock.now();
    if (p.status === 'idle') this.setPresence(p, 'active');
  }

  setPresence(p: Participant, status: Exclude<PresenceStatus, 'left'>): void {
    if (p.left || p.status === status) return;
    p.status = status;
    this.broadcastPresence(p.view());
  }

  /** Marks participants quiet for longer than idleAfterMs as IDLE. */
  sweepIdle(now: number): void {
    for (const p of this.participants.values()) {
      if (
        (p.status === 'active' || p.status === 'joined') &&
        now - p.lastActiveAt >= this.deps.config.idleAfterMs
      ) {
        this.setPresence(p, 'idle');
      }
    }
  }

  /** Presence of a participant of another instance (LEFT: it is gone). */
  remotePresence(instanceId: string, view: ParticipantView): void {
    const local = this.participants.get(view.participantId);
    if (local) {
      // The same client joined on another instance: that stream is the current one.
      if (view.status === 'left' || local.userId !== view.userId) return;
      local.sink.close(
        new LiveReviewError('SUPERSEDED', `client ${local.id} joined again on another instance`),
      );
      this.leave(local);
    }
    const known = this.remote.get(view.participantId);
    if (view.status === 'left') {
      if (!known || known.instanceId !== instanceId) return;
      this.remote.delete(view.participantId);
      this.broadcastPresence({ ...known.view, status: 'left' }, false);
      return;
    } else {
      if (known?.view.status === view.status && known.instanceId === instanceId) {
        known.view = view;
        return;
      }
      this.remote.set(view.participantId, { view, instanceId, cursor: known?.cursor });
    }
    this.broadcastPresence(view, false);
  }

  /** Another instance is gone (it stopped heartbeating): its participants leave. */
  expireInstance(instanceId: string): void {
    for (const [id, r] of this.remote) {
      if (r.instanceId !== instanceId) continue;
      this.remote.delete(id);
      this.broadcastPresence({ ...r.view, status: 'left' }, false);
    }
  }

  /** The participants of this instance, for other instances (a roster request, a heartbeat). */
  localViews(): { participant: ParticipantView; cursor: CursorView | undefined }[] {
    return [...this.participants.values()].map((p) => ({
      participant: p.view(),
      cursor: this.cursorView(p.id, p.userId, p.cursor),
    }));
  }

  /** Ids of participants of `instanceId` this room knows. */
  remoteIdsOf(instanceId: string): string[] {
    return [...this.remote].filter(([, r]) => r.instanceId === instanceId).map(([id]) => id);
  }

  /**
   * Tells everyone of a presence change. The first change after a quiet window goes out at once;
   * changes within presenceBatchMs of the last sending wait for the window's end and go out
   * together, each participant once in its latest state. A burst of N joins (a server restart, a
   * session starting) then costs a few roster updates per peer instead of N messages each.
   * Changes of this instance's participants also go to the other instances.
   */
  private broadcastPresence(view: ParticipantView, here = true): void {
    if (here) this.deps.relay?.presence(view);
    this.pendingPresence.set(view.participantId, view);
    if (this.presenceTimer) return;
    const { clock, config } = this.deps;
    const wait = this.lastPresenceSentAt + config.presenceBatchMs - clock.now();
    if (wait <= 0) {
      this.flushPresence();
      return;
    }
    this.presenceTimer = clock.setTimeout(() => {
      this.presenceTimer = undefined;
      this.flushPresence();
    }, wait);
  }

  private flushPresence(): void {
    const changed = [...this.pendingPresence.values()];
    const changedIds = new Set(this.pendingPresence.keys());
    this.pendingPresence.clear();
    if (changed.length === 0) return;
    const at = this.deps.clock.now();
    this.lastPresenceSentAt = at;
    // One message object per distinct content, so each is encoded once whoever receives it.
    const single = new Map<string, Outbound>();
    const singleFor = (v: ParticipantView): Outbound => {
      let msg = single.get(v.participantId);
      if (!msg)
        single.set(v.participantId, (msg = { type: 'presence', sessionId: this.id, participant: v, at }));
      return msg;
    };
    const everyone: Outbound = { type: 'roster', sessionId: this.id, participants: changed, at };
    for (const q of this.participants.values()) {
      if (!q.live) continue;
      const own = changedIds.has(q.id);
      if (q.acceptsRosterUpdates) {
        if (!own) q.sink.send(everyone);
        else if (changed.length > 1) {
          const others = changed.filter((v) => v.participantId !== q.id);
          q.sink.send({ type: 'roster', sessionId: this.id, participants: others, at });
        }
      } else {
        for (const v of changed) if (v.participantId !== q.id) q.sink.send(singleFor(v));
      }
    }
  }

  /** Stops the presence timer (the session is being dropped). */
  dispose(): void {
    this.presenceTimer?.cancel();
    this.presenceTimer = undefined;
    this.pendingPresence.clear();
  }

  // ---- cursors ----------------------------------------------------------------------------------

  /** Where a cursor command points, as a place that moves with edits (or, in a file that does not
   * exist, the line and column as given). */
  private placeOf(cmd: CursorCommand): CursorPlace {
    checkPath('cursor.file_path', cmd.path);
    checkLine('cursor.line', cmd.line);
    const doc = this.deps.state.files.get(cmd.path);
    if (!doc) return { path: cmd.path, line: cmd.line, column: Math.max(1, Math.floor(cmd.column)) };
    const version = cmd.version ?? doc.version;
    checkVersion('cursor.version', version);
    doc.checkWork(version, doc.codePoints, this.deps.config.limits.maxRebaseWork);
    const offset =
      version === doc.version
        ? doc.offsetOf(cmd.line, cmd.column)
        : offsetOf(doc.textAt(version), cmd.line, cmd.column);
    if (offset === undefined) {
      throw new LiveReviewError('LINE_OUT_OF_RANGE', `${cmd.path}: line ${cmd.line} does not exist`, {
        fieldViolations: [{ field: 'cursor.line', description: 'no such line' }],
      });
    }
    return { path: cmd.path, offset: doc.rebasePosition(offset, version, false) };
  }

  /** Moves a participant's cursor (ephemeral: not logged) and tells the others. Must run between
   * batches (it reads the committed text). */
  moveCursor(p: Participant, cmd: CursorCommand): void {
    p.cursor = this.placeOf(cmd);
    const view = this.cursorView(p.id, p.userId, p.cursor);
    if (!view) return;
    this.sendCursor(view, p.id);
    this.deps.relay?.cursor(view);
  }

  /** A cursor of a participant of another instance. */
  remoteCursor(instanceId: string, view: CursorView): void {
    const r = this.remote.get(view.participantId);
    if (!r || r.instanceId !== instanceId) return;
    try {
      r.cursor = this.placeOf({ kind: 'cursor', ...view, version: undefined });
    } catch {
      return; // a line this instance does not have yet: the next cursor move will place it
    }
    const here = this.cursorView(view.participantId, view.userId, r.cursor);
    if (here) this.sendCursor(here, undefined);
  }

  private sendCursor(view: CursorView, except: string | undefined): void {
    const msg: Outbound = { type: 'cursor', sessionId: this.id, cursor: view, at: this.deps.clock.now() };
    for (const q of this.participants.values()) if (q.id !== except && q.live) q.sink.send(msg);
  }

  /** Moves every cursor in `doc` through its last applied op. */
  onEdit(doc: FileDocument): Undo | undefined {
    const moved: [{ cursor: CursorPlace | undefined }, CursorPlace][] = [];
    const holders: { cursor: CursorPlace | undefined }[] = [
      ...this.participants.values(),
      ...this.remote.values(),
    ];
    const op = doc.lastOp();
    for (const h of holders) {
      const c = h.cursor;
      if (c?.path !== doc.path) continue;
      moved.push([h, c]);
      // A place given by line and column in a file that did not exist yet stays where it was said.
      if ('offset' in c) h.cursor = { path: c.path, offset: transformPosition(c.offset, op, false) };
    }
    if (moved.length === 0) return undefined;
    return () => {
      for (const [h, c] of moved) h.cursor = c;
    };
  }

  private cursorView(
    participantId: string,
    userId: string,
    c: CursorPlace | undefined,
  ): CursorView | undefined {
    if (!c) return undefined;
    const doc = this.deps.state.files.get(c.path);
    if (!('offset' in c)) {
      return {
        participantId,
        userId,
        path: c.path,
        line: c.line,
        column: c.column,
        version: doc?.version ?? 0,
      };
    }
    if (!doc) return undefined;
    const { line, column } = doc.positionOf(c.offset);
    return { participantId, userId, path: doc.path, line, column, version: doc.version };
  }

  cursorViews(): CursorView[] {
    const views: CursorView[] = [];
    for (const p of this.participants.values()) {
      const v = this.cursorView(p.id, p.userId, p.cursor);
      if (v) views.push(v);
    }
    for (const [id, r] of this.remote) {
      const v = this.cursorView(id, r.view.userId, r.cursor);
      if (v) views.push(v);
    }
    return views;
  }

  // ---- fan-out ----------------------------------------------------------------------------------

  /** Sends a committed event to this instance's live participants, in sequence order. The sender
   * (when it is a participant here) gets its ack from the pipeline instead, and before it the
   * event when it lacks its content (echoesToOrigin). */
  publish(event: LoggedEvent, sender: Participant | undefined): void {
    const msg: Outbound = { type: 'event', event };
    const skip = echoesToOrigin(event.change) ? undefined : sender;
    let recipients = 0;
    // Built once for every seed participant: a file opened is split into one message per line.
    let seedForm: Outbound[] | undefined;
    let seedFormBuilt = false;
    for (const p of this.participants.values()) {
      if (p === skip || !p.live) continue;
      if (p.vocabulary === 'seed' && !seedFormBuilt) {
        seedForm = seedMessagesOf(event);
        seedFormBuilt = true;
      }
      this.deliver(p, event, msg, p.vocabulary === 'seed' ? seedForm : undefined);
      recipients++;
    }
    this.deps.published?.(event, recipients);
  }

  /** One committed event to one participant: an echo of its own edit or comment is an ack (it may
   * have missed the ack with a connection, or sent it through another instance or call; it has the
   * content). What it does not have the content of reaches it as the event (echoesToOrigin: a
   * file it opened with a unary call, a suggestion applied, …). A seed client gets the event in
   * its own vocabulary, or nothing when it has no words for it. */
  private deliver(
    p: Participant,
    event: LoggedEvent,
    shared: Outbound | undefined,
    seedForm: Outbound[] | undefined,
  ): void {
    p.lastSeq = event.seq;
    if (!echoesToOrigin(event.change) && p.isOriginOf(event.origin) && event.origin.clientMessageId) {
      p.sink.send({ type: 'ack', sessionId: this.id, ack: ackOf(event, false) });
    } else if (seedForm) {
      for (const msg of seedForm) p.sink.send(msg);
    } else {
      p.sink.send(shared ?? { type: 'event', event });
    }
  }
}
