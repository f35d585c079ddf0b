// Prints a session's live traffic for a terminal, one line per event.
import { codeName, type LiveReviewClient } from '../client/index.js';

export interface Printer {
  line(text: string): void;
}

export const stdoutPrinter: Printer = { line: (text) => process.stdout.write(text + '\n') };

export function printFile(out: Printer, client: LiveReviewClient, path: string): void {
  const file = client.file(path);
  if (!file) return out.line(`(no file ${path} in this session)`);
  out.line(`── ${path} (version ${file.version}) ──`);
  file.text.split('\n').forEach((l, i) => out.line(`${String(i + 1).padStart(4)} │ ${l.replace(/\r$/, '')}`));
  const comments = client.comments().filter((c) => c.path === path);
  for (const c of comments) {
    out.line(
      `     ${c.state === 'resolved' ? '✓' : '•'} ${c.id} line ${c.line}${c.outdated ? ' (outdated)' : ''} ${c.authorId}: ${c.text}`,
    );
  }
}

/** Follows a client's events and prints them. `current` is the file the person is looking at. */
export function printTraffic(
  out: Printer,
  client: LiveReviewClient,
  self: string,
  current: () => string = () => '',
): void {
  client.on('state', (s, info) => out.line(`[connection] ${s}${info.message ? ` (${info.message})` : ''}`));
  client.on('presence', (p) => p.userId !== self && out.line(`[presence] ${p.userId} is ${p.status}`));
  client.on('edit', (e) =>
    out.line(`[edit] ${e.userId} ${e.path} v${e.version} line ${e.line}: ${e.lineText}`),
  );
  client.on('comment', (c) =>
    out.line(
      `[comment] ${c.authorId} ${c.action} ${c.id} on ${c.path}:${c.line}${c.state === 'resolved' ? ' (resolved)' : ''}: ${c.text}`,
    ),
  );
  client.on('cursor', (c) => out.line(`[cursor] ${c.userId} at ${c.path}:${c.line}:${c.column}`));
  client.on('error', (e) =>
    out.line(
      `[refused] ${codeName(e.code)}${e.reason ? ` ${e.reason}` : ''}: ${e.message}${e.willRetry ? ' (sending again shortly)' : ''}`,
    ),
  );
  client.on('rollback', (r) => {
    const edits = r.undoneEdits === 1 ? 'your edit' : `your ${r.undoneEdits} edits`;
    if (!r.file) return out.line(`[undone] ${edits} of ${r.path}: the file does not exist in the session`);
    out.line(`[undone] ${edits} of ${r.path}; the file as it is:`);
    printFile(out, client, r.path);
    if (current() && current() !== r.path) out.line(`(still showing ${current()} for commands)`);
  });
  client.on('resync', (r) =>
    out.line(`[resync] ${r.path} reloaded from the server (${r.droppedEdits} local edits dropped)`),
  );
}
