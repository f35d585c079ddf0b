// What instances tell each other over the bus. Every message names the instance that sent it, so
// an instance ignores its own echo. Payloads are JSON; what arrives is parsed into these values or
// dropped (another instance of another version, or anything else on the channel, cannot crash
// this one).
import { LiveReviewError, REASONS, type ErrorDetails, type Reason } from './errors.js';
import type { AckView, CursorView, DurableCommand, LoggedEvent, Origin, ParticipantView } from './model.js';

/** The topic of a session's traffic, of the instances' heartbeats, and of what is sent to one
 * instance (the commands it commits for the others). */
export const sessionTopic = (sessionId: string) => `session:${sessionId}`;
export const INSTANCES_TOPIC = 'instances';
export const instanceTopic = (instanceId: string) => `instance:${instanceId}`;

/** A command another instance's participant sent, for the session's committing instance. */
export interface ForwardedCommand {
  origin: Origin;
  command: DurableCommand;
}

/** What became of a forwarded command: null, committed (its event says so: it acks its sender
 * where it is applied); an ack of an earlier commit (a resend); or the error its sender is told. */
export type ForwardOutcome = null | { ack: AckView } | { error: LiveReviewError };

/** A ForwardOutcome as JSON carries it. */
type ForwardOutcomeJson =
  null | { ack: AckView } | { error: { reason: string; message: string; details: ErrorDetails } };

export interface LocalParticipant {
  participant: ParticipantView;
  cursor: CursorView | undefined;
}

export type SessionBusMessage =
  /** Events this instance committed (a batch, in sequence order). */
  | { t: 'events'; from: string; events: LoggedEvent[] }
  /** This instance committed up to `head` but the events were too large to carry: read the log. */
  | { t: 'head'; from: string; head: number }
  | { t: 'presence'; from: string; participant: ParticipantView }
  | { t: 'cursor'; from: string; cursor: CursorView }
  /** An instance just took the session in (or came back): everyone, say who you have here. */
  | { t: 'hello'; from: string }
  /** All of an instance's participants in the session: authoritative for that instance. */
  | { t: 'roster'; from: string; participants: LocalParticipant[] }
  /** The committing instance's answer to `submit` request `id` of instance `to`, one outcome per
   * command, when the events it committed do not say it all (a resend, an error). On the session's
   * topic, after those events (one publisher, one topic: in order). No outcomes: declined (it is
   * shutting down, or cannot hold the session), the asker commits them itself. */
  | { t: 'submitted'; from: string; to: string; id: number; outcomes: ForwardOutcome[] | undefined };

export type InstanceBusMessage =
  | { t: 'beat'; from: string }
  /** The instance is shutting down: not to be asked to commit anything any more. */
  | { t: 'bye'; from: string };

/** On an instance's own topic: commands of a session it commits, from instance `from`. */
export type DirectBusMessage = {
  t: 'submit';
  from: string;
  id: number;
  sessionId: string;
  commands: ForwardedCommand[];
};

/** Recognises an instance's own messages from their first characters, without parsing them: the
 * bus hands a publisher its own payloads back, and in a cluster the instance committing a session
 * published nearly all of that session's traffic: with two instances under the typing load, 42 %
 * of what an instance received was its own events, each decoded and validated to be dropped. Every
 * message here is JSON of an object whose first keys are `t` and `from`, so it starts
 * `{"t":"<kind>","from":"<instance id>"`; a payload that does not is parsed as any other. */
export function ownEchoTest(instanceId: string): (payload: string) => boolean {
  const from = `,"from":${JSON.stringify(instanceId)}`;
  return (payload) => {
    if (!payload.startsWith('{"t":"')) return false;
    const kindEnd = payload.indexOf('"', 6);
    return kindEnd > 0 && payload.startsWith(from, kindEnd + 1);
  };
}

const STATUSES = new Set(['joined', 'active', 'idle', 'left']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isString = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

function isParticipant(v: unknown): v is ParticipantView {
  return (
    isObject(v) &&
    isString(v.participantId) &&
    isString(v.userId) &&
    isString(v.displayName) &&
    isString(v.status) &&
    STATUSES.has(v.status) &&
    isInt(v.joinedAt) &&
    isInt(v.lastActiveAt)
  );
}

function isCursor(v: unknown): v is CursorView {
  return (
    isObject(v) &&
    isString(v.participantId) &&
    isString(v.userId) &&
    isString(v.path) &&
    isInt(v.line) &&
    isInt(v.column) &&
    isInt(v.version)
  );
}

function isEvent(v: unknown, sessionId: string): v is LoggedEvent {
  return (
    isObject(v) &&
    v.sessionId === sessionId &&
    isInt(v.seq) &&
    isInt(v.at) &&
    isObject(v.origin) &&
    isObject(v.change) &&
    isString(v.change.kind)
  );
}

function isOrigin(v: unknown): v is Origin {
  return isObject(v) && isString(v.userId) && isString(v.clientId) && isString(v.clientMessageId);
}

function isAck(v: unknown): v is AckView {
  return (
    isObject(v) &&
    isString(v.clientMessageId) &&
    isInt(v.sequence) &&
    isInt(v.version) &&
    isString(v.path) &&
    isString(v.commentId) &&
    isInt(v.line) &&
    typeof v.duplicate === 'boolean'
  );
}

/** An outcome as JSON, or undefined when it is not one. An error of a reason this instance does
 * not know (another version's) is INTERNAL, with the message it had. */
function outcomeOf(v: unknown): ForwardOutcome | undefined {
  if (v === null) return null;
  if (!isObject(v)) return undefined;
  if (isAck(v.ack)) return { ack: v.ack };
  const e = v.error;
  if (!isObject(e) || !isString(e.reason) || !isString(e.message)) return undefined;
  const reason = (Object.hasOwn(REASONS, e.reason) ? e.reason : 'INTERNAL') as Reason;
  return {
    error: new LiveReviewError(reason, e.message, isObject(e.details) ? (e.details as ErrorDetails) : {}),
  };
}

/** A `submitted` message as JSON: errors by reason, message and details. */
export function submittedPayload(
  from: string,
  to: string,
  id: number,
  outcomes: ForwardOutcome[] | undefined,
): string {
  const json: ForwardOutcomeJson[] | null = outcomes
    ? outcomes.map((o) =>
        o === null || 'ack' in o
          ? o
          : { error: { reason: o.error.reason, message: o.error.message, details: o.error.details } },
      )
    : null;
  return JSON.stringify({ t: 'submitted', from, to, id, outcomes: json });
}

function parse(payload: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payload);
    return isObject(value) && isString(value.from) && isString(value.t) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A session topic's payload as a message, or undefined when it is not one. Events are trusted to
 * be what another instance committed to the shared log (their shape is checked, not their meaning:
 * the log is the source of truth and was written by the same code). */
export function parseSessionMessage(payload: string, sessionId: string): SessionBusMessage | undefined {
  const m = parse(payload);
  if (!m) return undefined;
  switch (m.t) {
    case 'events':
      return Array.isArray(m.events) && m.events.every((e) => isEvent(e, sessionId))
        ? (m as SessionBusMessage)
        : undefined;
    case 'head':
      return isInt(m.head) ? (m as SessionBusMessage) : undefined;
    case 'presence':
      return isParticipant(m.participant) ? (m as SessionBusMessage) : undefined;
    case 'cursor':
      return isCursor(m.cursor) ? (m as SessionBusMessage) : undefined;
    case 'hello':
      return m as SessionBusMessage;
    case 'roster':
      return Array.isArray(m.participants) &&
        m.participants.every(
          (p) =>
            isObject(p) && isParticipant(p.participant) && (p.cursor === undefined || isCursor(p.cursor)),
        )
        ? (m as SessionBusMessage)
        : undefined;
    case 'submitted': {
      if (!isString(m.to) || !isInt(m.id)) return undefined;
      const base = { t: 'submitted', from: m.from as string, to: m.to, id: m.id } as const;
      if (m.outcomes === null) return { ...base, outcomes: undefined };
      if (!Array.isArray(m.outcomes)) return undefined;
      const outcomes = m.outcomes.map(outcomeOf);
      return outcomes.every((o) => o !== undefined) ? { ...base, outcomes } : undefined;
    }
    default:
      return undefined;
  }
}

/** An instance topic's payload as a message, or undefined. Commands are trusted as events are:
 * another instance of the cluster validated them as it received them; their shape is checked. */
export function parseDirectMessage(payload: string): DirectBusMessage | undefined {
  const m = parse(payload);
  if (m?.t !== 'submit' || !isInt(m.id) || !isString(m.sessionId) || !Array.isArray(m.commands)) {
    return undefined;
  }
  const wellFormed = m.commands.every(
    (c) => isObject(c) && isOrigin(c.origin) && isObject(c.command) && isString(c.command.kind),
  );
  return wellFormed ? (m as DirectBusMessage) : undefined;
}

export function parseInstanceMessage(payload: string): InstanceBusMessage | undefined {
  const m = parse(payload);
  return m?.t === 'beat' || m?.t === 'bye' ? (m as InstanceBusMessage) : undefined;
}
