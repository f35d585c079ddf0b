// Cluster mode: what keeps the sessions of this instance in step with the other instances, over a
// Bus that may drop. Above the adapters, once:
// - commits of this instance go out as events; events of others come in through the session's one
//   replay path (Session.receive), which ignores duplicates and fills gaps from the store first;
// - the store is the source of truth: the heads of sessions with participants here are polled, so
//   an event whose bus message was lost (even the last one, which no later event would reveal) is
//   read from the log within a poll interval;
// - presence and cursors travel on the bus only. Each instance heartbeats; one that stops is
//   declared gone after the expiry and its participants leave everywhere. Rosters are re-announced
//   periodically and after a reconnect, so a dropped presence message is repaired too.
import type { Bus } from './bus.js';
import {
  INSTANCES_TOPIC,
  parseInstanceMessage,
  parseSessionMessage,
  sessionTopic,
  type InstanceBusMessage,
  type SessionBusMessage,
} from './bus-messages.js';
import type { Clock } from './clock.js';
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
  /** Told about what the replicator survives (a failed publish, a failed poll); must not throw. */
  onError?(what: string, err: unknown): void;
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

  constructor(private readonly options: ReplicatorOptions) {}

  get instanceId(): string {
    return this.options.instanceId;
  }

  async start(): Promise<void> {
    const { bus, clock, heartbeatMs, pollMs } = this.options;
    await bus.subscribe(INSTANCES_TOPIC, (payload) => {
      const m = parseInstanceMessage(payload);
      if (m) this.onInstanceMessage(m);
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

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) t.cancel();
    const { bus } = this.options;
    await Promise.allSettled([...this.sessions.keys()].map((id) => bus.unsubscribe(sessionTopic(id))));
    await bus.unsubscribe(INSTANCES_TOPIC).catch(() => undefined);
    this.sessions.clear();
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
    this.heard(m.from);
  }

  /** Notes that an instance is alive; one that was declared gone is asked who it has. */
  private heard(instanceId: string): void {
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
      if (now - seen < this.options.expiryMs) continue;
      this.lastSeen.delete(instanceId);
      for (const session of this.sessions.values()) session.room.expireInstance(instanceId);
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

function gone(participantId: string): ParticipantView {
  return { participantId, userId: '', displayName: '', status: 'left', joinedAt: 0, lastActiveAt: 0 };
}
