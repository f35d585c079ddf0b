// What a client generated from the seed's .proto can understand: SessionMessages whose payload is
// an edit, a comment, a cursor or a presence update. A seed client that joins is brought up to
// date in that vocabulary instead of with welcome and snapshot messages (docs/contract.md, "Seed
// clients"): the presence of everyone here, each file's text as line edits it can rebuild the file
// from, each comment of an open thread with its author, each cursor — then live traffic.
import type { LoggedEvent, Outbound, WelcomeView } from './model.js';
import type { SessionState } from './session-state.js';

/** A text as seed line edits at `version`: line 1, 2, … each replaced with its content (on an empty
 * file, line count + 1 appends: applying them in order rebuilds the text). */
function linesOf(sessionId: string, path: string, text: string, version: number, at: number): Outbound[] {
  const lines = text.split('\n');
  // A trailing line break makes a last empty line, which the seed's "append" rebuilds too.
  return lines.map((line, i) => ({
    type: 'line',
    sessionId,
    path,
    line: i + 1,
    content: line.endsWith('\r') ? line.slice(0, -1) : line,
    version,
    at,
  }));
}

/** The state of a session in seed messages, as of the welcome. */
export function seedCatchUp(
  sessionId: string,
  state: SessionState,
  welcome: WelcomeView,
  at: number,
): Outbound[] {
  const out: Outbound[] = [];
  for (const participant of welcome.roster) {
    if (participant.participantId === welcome.participantId) continue;
    out.push({ type: 'presence', sessionId, participant, at });
  }
  for (const f of state.fileViews()) out.push(...linesOf(sessionId, f.path, f.text, f.version, at));
  for (const comment of state.commentViews(false)) {
    // A line of a base the seed client cannot see would show on the head line of that number.
    if (comment.side !== 'base') out.push({ type: 'comment', sessionId, comment, at });
  }
  for (const cursor of welcome.cursors) out.push({ type: 'cursor', sessionId, cursor, at });
  return out;
}

/** A logged event in seed messages, or undefined when the event itself is one a seed client
 * understands (an edit, a comment on the head). A file opened is its text as line edits; an
 * applied suggestion is the line edit it made; a comment on a base line, a verdict or a viewed
 * mark have no seed form: nothing. */
export function seedMessagesOf(event: LoggedEvent): Outbound[] | undefined {
  const c = event.change;
  switch (c.kind) {
    case 'edit':
      return undefined;
    case 'comment':
      return c.comment.side === 'base' ? [] : undefined;
    case 'file_opened':
      return linesOf(event.sessionId, c.path, c.text, c.version, event.at);
    case 'suggestion_applied':
      return [
        {
          type: 'line',
          sessionId: event.sessionId,
          path: c.path,
          line: c.line,
          content: c.lineText,
          version: c.version,
          at: event.at,
        },
      ];
    case 'verdict':
    case 'viewed':
      return [];
  }
}
