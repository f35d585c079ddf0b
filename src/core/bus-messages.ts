// What instances tell each other over the bus. Every message names the instance that sent it, so
// an instance ignores its own echo. Payloads are JSON; what arrives is parsed into these values or
// dropped (another instance of another version, or anything else on the channel, cannot crash
// this one).
import type { CursorView, LoggedEvent, ParticipantView } from './model.js';

/** The topic of a session's traffic, and of the instances' heartbeats. */
export const sessionTopic = (sessionId: string) => `session:${sessionId}`;
export const INSTANCES_TOPIC = 'instances';

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
  | { t: 'roster'; from: string; participants: LocalParticipant[] };

export type InstanceBusMessage = { t: 'beat'; from: string };

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
    default:
      return undefined;
  }
}

export function parseInstanceMessage(payload: string): InstanceBusMessage | undefined {
  const m = parse(payload);
  return m?.t === 'beat' ? (m as InstanceBusMessage) : undefined;
}
