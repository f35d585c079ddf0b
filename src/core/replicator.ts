// Cluster mode: what keeps the sessions of this instance in step with the other instances, over a
// Bus that may drop. Above the adapters, once:
// - commits of this instance go out as events; events of others come in through the session's one
//   replay path (Session.receive), which ignores duplicates and fills gaps from the store first;
// - the store is the source of truth: the heads of sessions with participants here are polled, so
//   an event whose bus message was lost (even the last one, which no later event would reveal) is
//   read from the log within a poll interval;
// - one instance commits each session, the others hand it their participants' edits and comments
//   (two instances appending to one session at once keep losing the race to each other under load:
//   a quarter of the batches, and seconds of latency, with two instances of the typing load). The
//   committer is chosen by rendezvous hashing over the instances alive, so all agree without a
//   word while they see the same ones; while they do not, or when it does not answer, an instance
//   commits itself, and the optimistic append keeps the log right;
// - presence and cursors travel on the bus only. Each instance heartbeats; one that stops is
//   declared gone after the expiry and its participants leave everywhere. Rosters are re-announced
//   periodically and after a reconnect, so a dropped presence message is repaired too.
import type { Bus } from './bus.js';
import {
  INSTANCES_TOPIC,
  instanceTopic,
  ownEchoTest,
  parseDirectMessage,
  parseInstanceMessage,
  parseSessionMessage,
  sessionTopic,
  submittedPayload,
  type DirectBusMessage,
  type ForwardedCommand,
  type ForwardOutcome,
  type InstanceBusMessage,
  type SessionBusMessage,
} from './bus-messages.js';
import type { Clock } from './clock.js';
import { asLiveReviewError } from './errors.js';
import type { CursorView, LoggedEvent, ParticipantView } from './model.js';
import type { RoomRelay } from './room.js';
import type { Session, SessionReplication } from './session.js';
import type { Store } from './store.js';

export interface ReplicatorOptions {
  instanceId: string;
  bus: Bus;
  store: Store;
  clock: Clock;
  /** How often this instance says it is alive. */
  heartbeatMs: number;
  /** An instance not heard from for this long is gone: its participants leave. */
  expiryMs: number;
  /** How often the heads of sessions with participants here are read from the store. */
  pollMs: number;
  /** How long a forwarded batch waits for the committing instance's answer before this instance
   * commits it itself (and stops asking that instance for `expiryMs`). */
  forwardTimeoutMs: number;
  /** Commits commands another instance forwarded, in a session this instance commits; undefined:
   * declined (the asker commits them itself). */
  commitForwarded(sessionId: string, commands: ForwardedCommand[]): Promise<ForwardOutcome[] | undefined>;
  /** Told about what the replicator survives (a failed publish, a failed poll); must not throw. */
  onError?(what: string, err: unknown): void;
}

interface PendingForward {
  owner: string;
  session: Session;
  timer: { cancel(): void };
}

/** Rosters of this instance's participants are re-announced every this many heartbeats. */
const ROSTER_EVERY_BEATS = 5;

export class Replicator implements SessionReplication {
  private readonly sessions = new Map<string, Session>();
  /** When each other instance was last heard from. */
  private readonly lastSeen = new Map<string, number>();
  private readonly timers: { cancel(): void }[] = [];
  private beats = 0;
  private closed = false;
  /** Forwarded batches not settled yet, by request id. */
  private readonly forwards = new Map<number, PendingForward>();
  private nextForwardId = 1;
  /** Instances that left a forwarded batch unanswered (or could not reach the store for it), until
   * when they are not asked again. */
  private readonly unanswering = new Map<string, number>();
  /** Instances that said they were shutting down, and when (their last messages do not make them
   * alive again; forgotten after the expiry). */
  private readonly departed = new Map<string, number>();

  private readonly isOwnEcho: (payload: string) => boolean;

  constructor(private readonly options: ReplicatorOptions) {
    this.isOwnEcho = ownEchoTest(options.instanceId);
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  async start(): Promise<void> {
    const { bus, clock, heartbeatMs, pollMs } = this.options;
    await bus.subscribe(INSTANCES_TOPIC, (payload) => {
      const m = parseInstanceMessage(payload);
      if (m) this.onInstanceMessage(m);
    });
    await bus.subscribe(instanceTopic(this.instanceId), (payload) => {
      const m = parseDirectMessage(payload);
      if (m) this.onForwarded(m);
    });
    bus.onReconnect(() => {
      // What was published meanwhile is lost: ask everyone who is here, and read the log.
      for (const id of this.sessions.keys()) this.publish(id, { t: 'hello', from: this.instanceId });
      void this.poll();
    });
    this.timers.push(clock.setInterval(() => this.beat(), heartbeatMs));
    this.timers.push(clock.setInterval(() => void this.poll(), pollMs));
    this.beat();
  }

  /** A session loaded on this instance: from now on it follows the others. */
  async attach(session: Session): Promise<void> {
    if (this.closed) return;
    this.sessions.set(session.id, session);
    await this.options.bus
      .subscribe(sessionTopic(session.id), (payload) => {
        if (this.isOwnEcho(payload)) return;
        const m = parseSessionMessage(payload, session.id);
        if (m && m.from !== this.instanceId) this.onSessionMessage(session, m);
      })
      .catch((err: unknown) => this.options.onError?.('subscribe', err));
    this.publish(session.id, { t: 'hello', from: this.instanceId });
    // Anything committed between loading it and subscribing is read from the log.
    await this.poll([session]);
  }

  /** A session dropped from this instance. */
  detach(sessionId: string): void {
    if (!this.sessions.delete(sessionId)) return;
    void this.options.bus.unsubscribe(sessionTopic(sessionId)).catch(() => undefined);
  }

  /** This instance is shutting down: the others stop sending it commands now, rather than after
   * an unanswered batch or the expiry. It still answers (declines) what is on its way. */
  leave(): void {
    if (this.closed) return;
    const bye: InstanceBusMessage = { t: 'bye', from: this.instanceId };
    this.options.bus
      .publish(INSTANCES_TOPIC, JSON.stringify(bye))
      .catch((err: unknown) => this.options.onError?.('say goodbye', err));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) t.cancel();
    const { bus } = this.options;
    await Promise.allSettled([...this.sessions.keys()].map((id) => bus.unsubscribe(sessionTopic(id))));
    await bus.unsubscribe(INSTANCES_TOPIC).catch(() => undefined);
    await bus.unsubscribe(instanceTopic(this.instanceId)).catch(() => undefined);
    this.sessions.clear();
    for (const [id, pending] of [...this.forwards]) this.answer(id, pending, undefined);
  }

  // ---- SessionReplication: what sessions hand to the other instances -------------------------------

  committed(sessionId: string, events: readonly LoggedEvent[]): void {
    const head = events.at(-1)!.seq;
    this.options.bus
      .publish(sessionTopic(sessionId), JSON.stringify({ t: 'events', from: this.instanceId, events }))
      .catch(() =>
        // Too large, or the bus is down: say where the log is (if that is lost too, polls find it).
        this.publish(sessionId, { t: 'head', from: this.instanceId, head }),
      );
  }

  relay(sessionId: string): RoomRelay {
    return {
      presence: (participant: ParticipantView) =>
        this.publish(sessionId, { t: 'presence', from: this.instanceId, participant }),
      cursor: (cursor: CursorView) => this.publish(sessionId, { t: 'cursor', from: this.instanceId, cursor }),
    };
  }

  /** Sends a batch to the instance that commits the session: its request id, or undefined when
   * this instance commits it. The session hears back through Session.forwardAnswered: at once if
   * it cannot be sent, from that instance when the events do not say it all, or after
   * `forwardTimeoutMs` without a word (then that instance is not asked for a while). */
  forward(sessionId: string, commands: ForwardedCommand[]): number | undefined {
    const session = this.sessions.get(sessionId);
    const owner = this.committerOf(sessionId);
    if (owner === this.instanceId || this.closed || !session) return undefined;
    const id = this.nextForwardId++;
    const pending: PendingForward = {
      owner,
      session,
      timer: this.options.clock.setTimeout(() => {
        this.unanswering.set(owner, this.options.clock.now() + this.options.expiryMs);
        this.options.onError?.(
          'forward a batch',
          new Error(
            `instance ${owner} did not answer in ${this.options.forwardTimeoutMs} ms: committed here`,
          ),
        );
        this.answer(id, pending, undefined);
      }, this.options.forwardTimeoutMs),
    };
    this.forwards.set(id, pending);
    const message: DirectBusMessage = { t: 'submit', from: this.instanceId, id, sessionId, commands };
    this.options.bus
      .publish(instanceTopic(owner), JSON.stringify(message))
      // Too large for the bus, or the bus is down: committed here.
      .catch(() => this.answer(id, pending, undefined));
    return id;
  }

  /** Every command of a forwarded batch is settled (Session.forwardAnswered needs no more). */
  forwardSettled(id: number): void {
    const pending = this.forwards.get(id);
    if (!pending) return;
    this.forwards.delete(id);
    pending.timer.cancel();
  }

  private answer(id: number, pending: PendingForward, outcomes: ForwardOutcome[] | undefined): void {
    if (outcomes === undefined) this.forwardSettled(id);
    // It cannot reach the store (this one may): not asked again for a while.
    else if (outcomes.some((o) => o !== null && 'error' in o && o.error.reason === 'STORE_UNAVAILABLE')) {
      this.unanswering.set(pending.owner, this.options.clock.now() + this.options.expiryMs);
    }
    pending.session.forwardAnswered(id, outcomes);
  }

  /** The instance that commits a session: of this one and the others alive (less those that left
   * a forwarded batch unanswered lately), the one whose hash with the session's id is highest. */
  private committerOf(sessionId: string): string {
    let best = this.instanceId;
    let bestScore = rendezvousScore(this.instanceId, sessionId);
    const now = this.options.clock.now();
    for (const instanceId of this.lastSeen.keys()) {
      const until = this.unanswering.get(instanceId);
      if (until !== undefined) {
        if (until > now) continue;
        this.unanswering.delete(instanceId);
      }
      const score = rendezvousScore(instanceId, sessionId);
      if (score > bestScore || (score === bestScore && instanceId > best)) {
        best = instanceId;
        bestScore = score;
      }
    }
    return best;
  }

  /** Commits what another instance forwarded and answers it on the session's topic, after the
   * events (see the `submitted` message). */
  private onForwarded(m: DirectBusMessage): void {
    this.heard(m.from);
    this.options
      .commitForwarded(m.sessionId, m.commands)
      .catch((err: unknown): ForwardOutcome[] => {
        const error = asLiveReviewError(err);
        return m.commands.map(() => ({ error }));
      })
      .then((outcomes) => {
        // Committed, all of them: their events say so.
        if (outcomes?.every((o) => o === null)) return;
        return this.options.bus.publish(
          sessionTopic(m.sessionId),
          submittedPayload(this.instanceId, m.from, m.id, outcomes),
        );
      })
      // Unanswered, the other instance commits the batch itself once it stops waiting.
      .catch((err: unknown) => this.options.onError?.('answer a forwarded batch', err));
  }

  private publish(sessionId: string, message: SessionBusMessage): void {
    if (this.closed) return;
    this.options.bus
      .publish(sessionTopic(sessionId), JSON.stringify(message))
      .catch((err: unknown) => this.options.onError?.(`publish ${message.t}`, err));
  }

  // ---- what the others say ----------------------------------------------------------------------

  private onSessionMessage(session: Session, m: SessionBusMessage): void {
    this.heard(m.from);
    switch (m.t) {
      case 'events':
        session.receive(m.events).catch((err: unknown) => this.options.onError?.('apply events', err));
        return;
      case 'head':
        session.checkHead(m.head).catch((err: unknown) => this.options.onError?.('read the log', err));
        return;
      case 'presence':
        session.room.remotePresence(m.from, m.participant);
        return;
      case 'cursor':
        // Placed against the committed text, between batches.
        void session.run(() => session.room.remoteCursor(m.from, m.cursor)).catch(() => undefined);
        return;
      case 'hello':
        this.announce(session);
        return;
      case 'submitted': {
        const pending = m.to === this.instanceId ? this.forwards.get(m.id) : undefined;
        if (pending) this.answer(m.id, pending, m.outcomes);
        return;
      }
      case 'roster':
        void session
          .run(() => {
            const listed = new Set(m.participants.map((p) => p.participant.participantId));
            for (const id of session.room.remoteIdsOf(m.from)) {
              if (!listed.has(id)) session.room.remotePresence(m.from, gone(id));
            }
            for (const { participant, cursor } of m.participants) {
              session.room.remotePresence(m.from, participant);
              if (cursor) session.room.remoteCursor(m.from, cursor);
            }
          })
          .catch(() => undefined);
        return;
    }
  }

  private onInstanceMessage(m: InstanceBusMessage): void {
    if (m.from === this.instanceId) return;
    if (m.t === 'bye') this.gone(m.from, true);
    else this.heard(m.from);
  }

  /** An instance that said goodbye, or was not heard from for the expiry: its participants leave,
   * and what was sent to it is committed here. */
  private gone(instanceId: string, departed: boolean): void {
    if (departed) this.departed.set(instanceId, this.options.clock.now());
    this.lastSeen.delete(instanceId);
    for (const session of this.sessions.values()) session.room.expireInstance(instanceId);
    for (const [id, pending] of [...this.forwards]) {
      if (pending.owner === instanceId) this.answer(id, pending, undefined);
    }
  }

  /** Notes that an instance is alive; one that was declared gone is asked who it has. */
  private heard(instanceId: string): void {
    if (this.departed.has(instanceId)) return;
    const known = this.lastSeen.has(instanceId);
    this.lastSeen.set(instanceId, this.options.clock.now());
    if (!known)
      for (const id of this.sessions.keys()) this.publish(id, { t: 'hello', from: this.instanceId });
  }

  /** Tells the others who this instance has in a session. */
  private announce(session: Session): void {
    this.publish(session.id, { t: 'roster', from: this.instanceId, participants: session.room.localViews() });
  }

  // ---- timers ----------------------------------------------------------------------------------

  private beat(): void {
    if (this.closed) return;
    const beat: InstanceBusMessage = { t: 'beat', from: this.instanceId };
    this.options.bus
      .publish(INSTANCES_TOPIC, JSON.stringify(beat))
      .catch((err: unknown) => this.options.onError?.('heartbeat', err));
    const now = this.options.clock.now();
    for (const [instanceId, seen] of this.lastSeen) {
      if (now - seen >= this.options.expiryMs) this.gone(instanceId, false);
    }
    for (const [instanceId, at] of this.departed) {
      if (now - at >= this.options.expiryMs) this.departed.delete(instanceId);
    }
    if (++this.beats % ROSTER_EVERY_BEATS === 0) {
      for (const session of this.sessions.values()) {
        if (session.room.participants.size > 0) this.announce(session);
      }
    }
  }

  /** Reads the heads of sessions with participants here from the store; a session behind reads
   * what it missed. */
  private async poll(sessions?: Session[]): Promise<void> {
    const targets = sessions ?? [...this.sessions.values()].filter((s) => s.room.participants.size > 0);
    if (targets.length === 0 || this.closed) return;
    try {
      const heads = await this.options.store.heads(targets.map((s) => s.id));
      for (const s of targets) {
        const head = heads.get(s.id) ?? 0;
        if (head > s.committedHead) await s.checkHead(head);
      }
    } catch (err) {
      this.options.onError?.('poll the store', err);
    }
  }
}

/** FNV-1a over the instance id, a separator and the session id: 32 bits that spread well enough
 * for choosing among a handful of instances, and the same on every instance. */
function rendezvousScore(instanceId: string, sessionId: string): number {
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  mix(instanceId);
  mix('\u0000');
  mix(sessionId);
  // FNV's last steps leave the high bits poorly mixed for short inputs: finish like murmur3.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function gone(participantId: string): ParticipantView {
  return { participantId, userId: '', displayName: '', status: 'left', joinedAt: 0, lastActiveAt: 0 };
}
