// Prints a session's live traffic for a terminal, one line per event.
import { codeName, renderUnifiedDiff, type LiveReviewClient } from '../client/index.js';

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
    const where = c.side === 'base' ? `base line ${c.line}` : `line ${c.line}`;
    out.line(
      `     ${c.state === 'resolved' ? '✓' : '•'} ${c.id} ${where}${c.outdated ? ' (outdated)' : ''} ${c.authorId}: ${c.text}`,
    );
    const s = c.suggestion;
    if (s) {
      const status = s.status === 'conflicting' ? `conflicting: ${s.conflict}` : s.status;
      out.line(`       suggests for lines ${s.startLine}-${s.endLine} (${status}):`);
      for (const l of s.replacement.replace(/\r?\n$/, '').split('\n'))
        out.line(`       + ${l.replace(/\r$/, '')}`);
    }
  }
}

/** The diff of a file's base to the client's text of it. */
export function printDiff(out: Printer, client: LiveReviewClient, path: string): void {
  const diff = client.diff(path);
  if (!diff) return out.line(`(no file ${path} in this session)`);
  if (diff.status === 'too_large') return out.line(`── ${path}: ${diff.message} ──`);
  const base = client.file(path)!.base;
  out.line(
    `── ${path}: +${diff.added} -${diff.removed} against its base${base.change ? ` (${base.change})` : ''} ──`,
  );
  const text = renderUnifiedDiff(diff, { lineEndings: 'lf' });
  for (const l of (text || '(no change)\n').replace(/\n$/, '').split('\n')) out.line(l);
}

/** Where the review stands. */
export function printSummary(out: Printer, client: LiveReviewClient): void {
  const s = client.summary();
  out.line(`review: ${s.outcome.replace('_', ' ')}`);
  for (const v of s.verdicts)
    out.line(`  ${v.reviewer}: ${v.verdict.replace('_', ' ')}${v.message ? ` (${v.message})` : ''}`);
  out.line(
    `  threads: ${s.threads.unresolved} unresolved of ${s.threads.total}; suggestions: ${s.suggestions.pending} pending, ${s.suggestions.applied} applied, ${s.suggestions.conflicting} conflicting`,
  );
  for (const v of s.viewed)
    out.line(`  ${v.userId} has viewed ${v.files} of ${v.of} files (${v.of - v.files} left)`);
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
  client.on('edit', (e) => {
    const applied = e.suggestion
      ? ` (the suggestion of ${e.suggestion.commentId} by ${e.suggestion.authorId})`
      : '';
    out.line(`[edit] ${e.userId} ${e.path} v${e.version} line ${e.line}${applied}: ${e.lineText}`);
  });
  client.on(
    'comment',
    (c) =>
      // An applied suggestion is printed as the edit it made.
      c.action !== 'apply' &&
      out.line(
        `[comment] ${c.authorId} ${c.action} ${c.id} on ${c.path}:${c.line}${c.state === 'resolved' ? ' (resolved)' : ''}: ${c.text}`,
      ),
  );
  client.on('cursor', (c) => out.line(`[cursor] ${c.userId} at ${c.path}:${c.line}:${c.column}`));
  client.on('verdict', (v) =>
    out.line(`[verdict] ${v.reviewer} ${v.verdict.replace('_', ' ')}${v.message ? `: ${v.message}` : ''}`),
  );
  client.on('viewed', (m) =>
    out.line(`[viewed] ${m.userId} marked ${m.path} ${m.viewed ? 'viewed' : 'not viewed'}`),
  );
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
