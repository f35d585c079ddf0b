// A session: its state, its room, and the one place where its events are committed.
//
// The op pipeline (durable commands) reads as its steps:
//   validate -> authorize -> deduplicate -> transform -> apply -> commit -> publish -> ack
// (authorize happens in the engine before a command reaches the session). Consecutive commands are
// committed together (one store append: group commit). An append that fails or loses the
// optimistic race to another instance is taken back change by change; after a lost race the
// session reads what the other instance committed, applies it like any committed event, and
// prepares the batch again on top of it (capped retries).
//
// Committed events reach the state and the room through one path whatever their origin: this
// instance's commits, the bus (another instance's commits), or a read of the log (a gap the bus
// left, a lost race). Every event is applied and published exactly once, in sequence order.
import type { Clock } from './clock.js';
import { describe, prepare } from './commands.js';
import { ackOf, DedupeWindow } from './dedupe.js';
import { LiveReviewError, asLiveReviewError, storeUnavailable } from './errors.js';
import { Mailbox, cancelledError, type BatchItem } from './mailbox.js';
import type { ForwardedCommand, ForwardOutcome } from './bus-messages.js';
import type { AckView, CursorCommand, DurableCommand, LoggedEvent, Origin } from './model.js';
import type { Participant } from './participant.js';
import { Room, type RoomConfig, type RoomRelay } from './room.js';
import { SessionState, type EditListener, type Undo } from './session-state.js';
import type { Store } from './store.js';

export interface EngineConfig extends RoomConfig {
  /** Versions of history kept per file for transforming stale edits. */
  historyVersions: number;
  /** Save a snapshot every this many events, so loading never replays much. */
  snapshotEvery: number;
  /** Most commands committed in one append. */
  maxBatch: number;
  /** Retries of a batch that lost an optimistic append race. */
  commitRetries: number;
  /** Recent acks remembered per client (older messages are looked up in the store; src/core/dedupe.ts). */
  dedupeWindow: number;
  /** A client that commits nothing for this long loses its remembered acks (default 10 min). */
  dedupeIdleMs?: number;
}

/** Observation points for metrics and logs; all optional, none may throw. */
export interface EngineHooks {
  committed?(sessionId: string, events: number, durationMs: number): void;
  published?(event: LoggedEvent, recipients: number): void;
  storeFailed?(sessionId: string, err: unknown): void;
  /** A batch lost the optimistic append race to another writer and was prepared again. */
  conflicted?(sessionId: string): void;
  /** Commands were sent to the instance that commits the session (cluster mode). */
  forwarded?(sessionId: string, commands: number): void;
}

/** Where a session's own commits and its participants' ephemeral changes go beyond this instance. */
export interface SessionReplication {
  committed(sessionId: string, events: readonly LoggedEvent[]): void;
  relay(sessionId: string): RoomRelay;
  /** When another instance commits this session's batches: hands it the commands and returns the
   * request's id (Session.forwardAnswered hears what became of them). Undefined: commit them here. */
  forward?(sessionId: string, commands: ForwardedCommand[]): number | undefined;
  /** Every command of request `id` is settled. */
  forwardSettled?(id: number): void;
}

export interface SessionDeps {
  store: Store;
  clock: Clock;
  config: EngineConfig;
  hooks: EngineHooks;
  replication?: SessionReplication;
}

interface Submission {
  from: Participant | undefined;
  origin: Origin;
  command: DurableCommand;
  /** Committed here, never sent to another instance: forwarded here by one, or sent to one that
   * did not answer. */
  commitHere?: true;
}

type Item = BatchItem<Submission, AckView>;

/** A batch sent to the instance that commits the session, until each command is settled. */
interface ForwardedBatch {
  id: number;
  /** Commands not settled yet (undefined once settled). */
  items: (Item | undefined)[];
  open: number;
}

const originKey = (o: Origin) => `${o.userId}\u0000${o.clientId}\u0000${o.clientMessageId}`;

type Outcome =
  | { item: BatchItem<Submission, AckView>; event: LoggedEvent }
  | { item: BatchItem<Submission, AckView>; ack: AckView }
  | { item: BatchItem<Submission, AckView>; error: LiveReviewError };

/** Sent on to the instance that commits the session: a command of this instance's (not one
 * forwarded here) whose sender learns of its commit by its ack alone, which needs a client message
 * id. What also echoes its event to its sender (an opened file, a suggestion, …; echoesToOrigin)
 * is acked after that event by the committing instance only: committed here instead. */
function forwardable(s: Submission): boolean {
  if (s.commitHere || !s.origin.clientMessageId) return false;
  return s.command.kind === 'edit' || (s.command.kind === 'comment' && s.command.suggestion === undefined);
}

export class Session {
  readonly state: SessionState;
  readonly room: Room;
  /** Last sequence number known durable. Equals state.head between batches. */
  committedHead = 0;
  private readonly dedupe: DedupeWindow;
  private readonly mailbox: Mailbox<Submission, AckView>;
  private lastSnapshotSeq = 0;
  private readonly onEdit: EditListener;
  /** Forwarded batches not settled yet, by request id. */
  private readonly forwarded = new Map<number, ForwardedBatch>();
  /** Their commands waiting for their event, by origin (see forwardBatch). */
  private readonly awaitingEvents = new Map<string, { batch: ForwardedBatch; index: number }>();

  private constructor(
    readonly id: string,
    private readonly deps: SessionDeps,
  ) {
    this.state = new SessionState(id, deps.config.historyVersions);
    this.dedupe = new DedupeWindow({
      perClient: deps.config.dedupeWindow,
      ...(deps.config.dedupeIdleMs !== undefined && { idleMs: deps.config.dedupeIdleMs }),
    });
    this.room = new Room({
      sessionId: id,
      state: this.state,
      store: deps.store,
      clock: deps.clock,
      config: deps.config,
      committedHead: () => this.committedHead,
      published: deps.hooks.published,
      relay: deps.replication?.relay(id),
    });
    this.onEdit = (doc) => this.room.onEdit(doc);
    this.mailbox = new Mailbox(
      (items) => this.commitBatch(items),
      deps.config.maxBatch,
      deps.clock.whenSettled?.bind(deps.clock),
    );
  }

  /** Loads a session from the store (an empty one when the store does not know it). */
  static async load(id: string, deps: SessionDeps): Promise<Session> {
    const session = new Session(id, deps);
    const loaded = await deps.store.load(id, deps.config.historyVersions);
    session.state.reset(loaded?.snapshot);
    session.committedHead = session.state.head;
    session.lastSnapshotSeq = session.state.head;
    session.dedupe.reset(session.state.head);
    for (const event of loaded?.events ?? []) session.applyCommitted(event);
    return session;
  }

  get isEmpty(): boolean {
    return this.state.isEmpty;
  }

  get idle(): boolean {
    return this.mailbox.idle && this.forwarded.size === 0;
  }

  // ---- the mailbox ------------------------------------------------------------------------------

  /** Submits a durable command (edit, comment, opened file). Resolves with its ack once durable. */
  submit(
    from: Participant | undefined,
    origin: Origin,
    command: DurableCommand,
    signal?: AbortSignal,
  ): Promise<AckView> {
    return this.mailbox.submit({ from, origin, command }, signal);
  }

  /** Commits a command another instance's participant sent (see SessionReplication.forward):
   * its sender is told by that instance; the event reaches everyone as any commit does. */
  submitForwarded(origin: Origin, command: DurableCommand): Promise<AckView> {
    return this.mailbox.submit({ from: undefined, origin, command, commitHere: true });
  }

  /** Runs `fn` with the session's committed state, between batches. */
  run<T>(fn: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.mailbox.run(fn, signal);
  }

  // ---- committed events from any origin ------------------------------------------------------------

  /** Applies a committed event that follows the committed head, and publishes it. The one replay
   * path: loading, another instance's commits and reads of the log all come through here. */
  private applyCommitted(event: LoggedEvent): void {
    if (event.seq !== this.committedHead + 1) {
      throw new LiveReviewError(
        'INTERNAL',
        `session ${this.id}: event ${event.seq} does not follow ${this.committedHead}`,
      );
    }
    this.state.applyChange(event.change, this.onEdit);
    this.state.head = this.committedHead = event.seq;
    this.dedupe.remember(event);
    this.room.publish(event, undefined);
    if (this.awaitingEvents.size > 0 && event.origin.clientMessageId) this.forwardCommitted(event);
  }

  /** Events committed elsewhere (the bus): applied in order between batches; duplicates are
   * ignored and a gap is filled from the log first. */
  receive(events: readonly LoggedEvent[]): Promise<void> {
    return this.run(async () => {
      for (const event of events) {
        if (event.seq <= this.committedHead) continue;
        if (event.seq > this.committedHead + 1) await this.readMissed();
        if (event.seq === this.committedHead + 1) this.applyCommitted(event);
      }
    });
  }

  /** The log is known to reach `head` (a poll of the store): read whatever this instance missed. */
  checkHead(head: number): Promise<void> {
    if (head <= this.committedHead) return Promise.resolve();
    return this.run(() => this.readMissed());
  }

  /** Reads and applies everything committed after the committed head. */
  private async readMissed(): Promise<void> {
    for (;;) {
      const events = await this.deps.store
        .readEvents(this.id, this.committedHead, this.deps.config.catchUpBatch)
        .catch((err: unknown) => {
          throw storeUnavailable(err);
        });
      for (const event of events) if (event.seq === this.committedHead + 1) this.applyCommitted(event);
      if (events.length < this.deps.config.catchUpBatch) return;
    }
  }

  // ---- the op pipeline ----------------------------------------------------------------------------

  private async commitBatch(items: BatchItem<Submission, AckView>[]): Promise<void> {
    if (this.forwardBatch(items)) return;
    const { store, config, clock, hooks } = this.deps;
    for (let attempt = 0; ; attempt++) {
      const outcomes: Outcome[] = [];
      const events: LoggedEvent[] = [];
      const undos: Undo[] = [];
      for (const item of items) {
        if (item.signal?.aborted) {
          outcomes.push({ item, error: cancelledError() });
          continue;
        }
        try {
          // Most messages are answered by the dedupe window: no await (a promise and a turn of the
          // microtask queue per edit) unless the store has to be asked.
          const found = this.findCommitted(item.command.origin);
          const earlier = found instanceof Promise ? await found : found;
          if (earlier) {
            outcomes.push({ item, ack: earlier });
            continue;
          }
          const { origin, command } = item.command;
          const change = prepare(this.state, origin, command, clock.now(), config.limits);
          const undo = this.state.applyChange(change, this.onEdit);
          let event: LoggedEvent;
          try {
            event = Object.freeze({
              sessionId: this.id,
              seq: this.state.head + 1,
              at: clock.now(),
              origin,
              change: describe(this.state, change, config.limits),
            });
          } catch (err) {
            undo();
            throw err;
          }
          undos.push(undo);
          this.state.head = event.seq;
          this.dedupe.remember(event);
          events.push(event);
          outcomes.push({ item, event });
        } catch (err) {
          outcomes.push({ item, error: asLiveReviewError(err) });
        }
      }
      if (events.length > 0) {
        const started = clock.now();
        let result;
        try {
          result = await store.append(this.id, this.committedHead, events);
        } catch (err) {
          hooks.storeFailed?.(this.id, err);
          this.takeBack(undos, events);
          this.settle(outcomes.map((o) => this.failIfUncommitted(o, storeUnavailable(err))));
          return;
        }
        if (!result.ok) {
          // Another writer committed first: take ours back, apply theirs, prepare ours again.
          this.takeBack(undos, events);
          hooks.conflicted?.(this.id);
          let missed: LiveReviewError | undefined;
          await this.readMissed().catch((err: unknown) => (missed = asLiveReviewError(err)));
          if (!missed && attempt < config.commitRetries) continue;
          const err = missed ?? storeUnavailable(new Error('the log kept changing under concurrent appends'));
          this.settle(outcomes.map((o) => this.failIfUncommitted(o, err)));
          return;
        }
        this.committedHead = this.state.head;
        hooks.committed?.(this.id, events.length, clock.now() - started);
      }
      this.settle(outcomes);
      if (events.length > 0) this.deps.replication?.committed(this.id, events);
      // Checked here: an async call per batch (a promise and a turn) to find nothing due, mostly.
      if (this.committedHead - this.lastSnapshotSeq >= this.deps.config.snapshotEvery)
        await this.maybeSnapshot();
      return;
    }
  }

  /** In a cluster, one instance commits a session and the others hand it their participants'
   * commands: two instances appending to one session at once make one of them catch up and
   * prepare its batch again, over and over under load (docs/benchmarks.md, "one writer per
   * session"). True when the batch was sent. Nothing here changes until its events arrive, so the
   * mailbox goes on meanwhile (events received, the next batch sent); each command is settled by
   * its event (forwardCommitted) or by the answer (forwardAnswered). */
  private forwardBatch(items: Item[]): boolean {
    const replication = this.deps.replication;
    if (!replication?.forward || !items.every((i) => forwardable(i.command))) return false;
    const pending = items.filter((i) => !i.signal?.aborted);
    if (pending.length === 0) return false;
    const id = replication.forward(
      this.id,
      pending.map((i) => ({ origin: i.command.origin, command: i.command.command })),
    );
    if (id === undefined) return false;
    this.deps.hooks.forwarded?.(this.id, pending.length);
    for (const item of items) if (item.signal?.aborted) item.reject(cancelledError());
    const batch: ForwardedBatch = { id, items: pending, open: pending.length };
    this.forwarded.set(id, batch);
    // A resend of a command still waiting keeps the first one's place: the answer settles it.
    pending.forEach((item, index) => {
      const key = originKey(item.command.origin);
      if (!this.awaitingEvents.has(key)) this.awaitingEvents.set(key, { batch, index });
    });
    return true;
  }

  /** A forwarded command's event was applied here (which acked its sender: Room.deliver). */
  private forwardCommitted(event: LoggedEvent): void {
    const key = originKey(event.origin);
    const waiting = this.awaitingEvents.get(key);
    if (!waiting) return;
    this.awaitingEvents.delete(key);
    this.settleForwarded(waiting.batch, waiting.index)?.resolve(ackOf(event, false));
  }

  /** What the committing instance said of forwarded batch `id`: one outcome per command (null:
   * committed, its event settles it), or undefined when it did not answer, declined, or could not
   * be asked: what is not settled yet is committed here, as is what failed there for want of the
   * store. */
  forwardAnswered(id: number, outcomes: ForwardOutcome[] | undefined): void {
    const batch = this.forwarded.get(id);
    if (!batch) return;
    batch.items.forEach((item, index) => {
      if (!item) return;
      const outcome = outcomes ? outcomes[index] : undefined;
      if (outcome === null) return;
      this.forgetAwaiting(item, batch, index);
      this.settleForwarded(batch, index);
      // That instance could not reach the store; this one may: a retry here costs one commit.
      if (outcome === undefined || ('error' in outcome && outcome.error.reason === 'STORE_UNAVAILABLE')) {
        // The command itself decides whether it was committed meanwhile (the dedupe window).
        this.mailbox
          .submit({ ...item.command, commitHere: true }, item.signal)
          .then(item.resolve, item.reject);
      } else if ('error' in outcome) {
        item.reject(outcome.error);
      } else {
        // A resend of an event applied here already is acked now, as a local commit would; a
        // newer one is acked when its event is applied.
        const { ack } = outcome;
        if (ack.sequence <= this.committedHead) this.sendAck(item.command.from, ack);
        item.resolve(ack);
      }
    });
  }

  private forgetAwaiting(item: Item, batch: ForwardedBatch, index: number): void {
    const key = originKey(item.command.origin);
    const waiting = this.awaitingEvents.get(key);
    if (waiting?.batch === batch && waiting.index === index) this.awaitingEvents.delete(key);
  }

  /** Marks a forwarded command settled; the batch is done with its last. */
  private settleForwarded(batch: ForwardedBatch, index: number): Item | undefined {
    const item = batch.items[index];
    if (!item) return undefined;
    batch.items[index] = undefined;
    if (--batch.open === 0) {
      this.forwarded.delete(batch.id);
      this.deps.replication?.forwardSettled?.(batch.id);
    }
    return item;
  }

  /** Undoes a batch's applied changes, newest first: the state is the committed one again. */
  private takeBack(undos: Undo[], events: LoggedEvent[]): void {
    for (let i = undos.length - 1; i >= 0; i--) undos[i]!();
    for (const e of events) this.dedupe.forget(e);
    this.state.head = this.committedHead;
  }

  private failIfUncommitted(o: Outcome, err: LiveReviewError): Outcome {
    if ('event' in o) return { item: o.item, error: err };
    if ('ack' in o && o.ack.sequence > this.committedHead) return { item: o.item, error: err };
    return o;
  }

  /** Publishes committed events to the other live participants and acks their senders, in order. */
  private settle(outcomes: Outcome[]): void {
    for (const o of outcomes) {
      const from = o.item.command.from;
      if ('error' in o) {
        // The transport reports the error to its sender (it reports every refusal the same way).
        o.item.reject(o.error);
        continue;
      }
      if ('event' in o) this.room.publish(o.event, from);
      const ack = 'event' in o ? ackOf(o.event, false) : o.ack;
      this.sendAck(from, ack);
      o.item.resolve(ack);
    }
  }

  /** Acks a live participant's command (one catching up gets its ack in order from the log). */
  private sendAck(from: Participant | undefined, ack: AckView): void {
    if (!from || from.left || !from.live) return;
    from.lastSeq = Math.max(from.lastSeq, ack.sequence);
    from.sink.send({ type: 'ack', sessionId: this.id, ack });
  }

  /** The ack of an earlier commit of this client message, if any: from the window at once, or
   * from the store when the window cannot tell. */
  private findCommitted(origin: Origin): AckView | undefined | Promise<AckView | undefined> {
    const known = this.dedupe.lookup(origin);
    if (known === 'new') return undefined;
    if (known !== 'unknown') return known;
    return this.deps.store.findByOrigin(this.id, origin).then((event) => event && ackOf(event, true));
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.committedHead - this.lastSnapshotSeq < this.deps.config.snapshotEvery) return;
    const seq = this.committedHead;
    try {
      await this.deps.store.saveSnapshot(this.id, this.state.snapshot(seq));
      this.lastSnapshotSeq = seq;
    } catch (err) {
      // A missing snapshot only makes the next load replay more; the log is intact.
      this.deps.hooks.storeFailed?.(this.id, err);
    }
  }

  // ---- participants ---------------------------------------------------------------------------

  /** Adds a participant and brings it up to date (between batches: exactly the committed state;
   * in a cluster, first everything the log has). */
  join(p: Participant, resumeAfter: number | undefined): ReturnType<Room['join']> {
    return this.read(() => this.room.join(p, resumeAfter));
  }

  /** Runs `fn` with the committed state between batches; in a cluster, after reading whatever
   * other instances committed that this one has not received yet (a read never shows less than
   * the log had when it was asked for). */
  read<T>(fn: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.run(async () => {
      if (this.deps.replication) await this.readMissed();
      return fn();
    }, signal);
  }

  leave(p: Participant): void {
    this.room.leave(p);
  }

  /** Moves a participant's cursor (ephemeral: not logged) and tells the others. */
  moveCursor(p: Participant, cmd: CursorCommand): Promise<AckView> {
    return this.run(() => {
      this.room.moveCursor(p, cmd);
      const doc = this.state.files.get(cmd.path);
      return {
        clientMessageId: '',
        sequence: 0,
        version: doc?.version ?? 0,
        path: cmd.path,
        commentId: '',
        line: 0,
        duplicate: false,
      };
    });
  }

  /** Stops background work (the session is being dropped). */
  dispose(): void {
    this.room.dispose();
  }
}
