// /review/<session id>: one live review. The SDK's session client (over Connect) holds the
// session; this page shows it and turns the user's actions into SDK calls:
// - the files (with their change against the base), the selected one in the editor;
// - edits from others applied in place, local typing sent as operations (authors; others read);
// - comment threads at their lines, replies, resolve / reopen, outdated threads marked;
// - who is here and where their cursors are; the connection state and what waits to be sent.
import {
  LiveReviewWebClient,
  OutboxFullError,
  codeName,
  type CommentInfo,
  type ConnectionState,
  type CursorInfo,
  type TextOp,
} from '../../src/client/browser.js';
import { forgetToken, storeToken, type Identity, type Role } from './auth.js';
import { CommentsPanel } from './comments-panel.js';
import { ReviewPanel } from './review-panel.js';
import type { BaseChanges } from './decorations.js';
import { FileEditor } from './editor.js';
import { colorOf, el } from './dom.js';
import { pauseWhenHidden } from './hidden-tabs.js';

export interface ReviewPageOptions {
  sessionId: string;
  identity: Identity;
  /** Where the service is served (default: this page's origin). */
  baseUrl: string;
  protocol: ProtocolName;
}

export type ProtocolName = 'connect' | 'connect-json' | 'grpc-web';

/** Roles that may change the text (the server enforces it; the page shows it). */
const EDITORS = new Set<Role>(['author']);
const COMMENTERS = new Set<Role>(['author', 'reviewer']);

export class ReviewPage {
  private readonly client: LiveReviewWebClient;
  private readonly editor: FileEditor;
  private readonly comments: CommentsPanel;
  private readonly reviewPanel: ReviewPanel;
  private readonly viewed = el('input', { type: 'checkbox', id: 'viewed' });
  private readonly viewedLabel = el('label', { htmlFor: 'viewed', className: 'viewed' });
  private viewedPending: { path: string; viewed: boolean } | undefined;
  private readonly fileList = el('ul', { className: 'file-list' });
  private readonly fileTitle = el('h2', { className: 'file-title' });
  private readonly status = el('p', { className: 'connection', role: 'status' });
  private readonly people = el('ul', { className: 'people', 'aria-label': 'Participants' });
  private readonly notice = el('p', { className: 'notice', role: 'alert' });
  private readonly cursors = new Map<string, CursorInfo>();
  private role: Role | undefined;
  /** The role forbade an edit: the server said so, whatever the token claimed. */
  private refusedEdit = false;
  private selected: string | undefined;
  private renderQueued = false;
  private cursorTimer: ReturnType<typeof setTimeout> | undefined;
  private pendingCursor: { line: number; column: number } | undefined;
  /** What the editor shows already (comment markers, changed lines), to skip needless updates. */
  private marksKey = '';
  private diffKey = '';

  constructor(
    private readonly root: HTMLElement,
    private readonly options: ReviewPageOptions,
  ) {
    const { sessionId, identity } = options;
    this.role = identity.token ? identity.role : 'author';
    this.client = new LiveReviewWebClient({
      baseUrl: options.baseUrl,
      protocol: options.protocol,
      sessionId,
      userId: identity.userId,
      displayName: identity.userId,
      ...(identity.token ? { token: identity.token } : {}),
      // A page can wait: a person is looking at it, so come back quickly after an outage.
      backoff: { baseDelayMs: 250, maxDelayMs: 5000 },
      circuitBreaker: { failureThreshold: 5, resetAfterMs: 3000 },
    });

    const editorHost = el('div', { className: 'editor' });
    this.editor = new FileEditor(editorHost, {
      onLocalEdit: (op) => this.localEdit(op),
      onCursor: (line, column) => this.cursorMoved(line, column),
      onCommentMarker: (line) => this.comments.focusLine(line),
    });
    this.comments = new CommentsPanel({
      client: this.client,
      userId: identity.userId,
      canComment: () => this.canComment,
      canEdit: () => this.canEdit,
      selectedLines: () => this.editor.selectedLines(),
      currentPath: () => this.selected,
      currentLine: () => this.editor.cursorLine,
      goToLine: (line) => this.editor.goToLine(line),
      onChange: () => this.queueRender(),
      report: (message) => this.say(message),
    });

    this.reviewPanel = new ReviewPanel(
      this.client,
      () => this.canComment,
      (m) => this.say(m),
    );
    this.viewedLabel.append(this.viewed, ' Viewed');
    this.viewed.addEventListener('change', () => {
      const path = this.selected;
      if (!path) return;
      const viewed = this.viewed.checked;
      // Shown as asked until the server answers (a refusal puts it back).
      this.viewedPending = { path, viewed };
      this.client
        .markViewed(path, viewed)
        .then(
          () => undefined,
          (err: Error) => this.say(`Could not mark ${path} viewed: ${err.message}`),
        )
        .finally(() => {
          if (this.viewedPending?.path === path && this.viewedPending.viewed === viewed)
            this.viewedPending = undefined;
          this.queueRender();
        });
    });
    const heading = el('h1', {}, 'LiveReview ', el('span', { className: 'session-id' }, sessionId));
    const who = el('p', { className: 'me' }, `You: ${identity.userId}${this.role ? ` (${this.role})` : ''}`);
    root.replaceChildren(
      el('header', { className: 'top' }, heading, who, this.status, this.people),
      this.notice,
      el(
        'main',
        { className: 'review' },
        el('nav', { className: 'files', 'aria-label': 'Files' }, el('h2', {}, 'Files'), this.fileList),
        el(
          'section',
          { className: 'code', 'aria-label': 'Code' },
          el('div', { className: 'file-head' }, this.fileTitle, this.viewedLabel),
          editorHost,
        ),
        el('div', { className: 'side' }, this.reviewPanel.element, this.comments.element),
      ),
    );
    document.title = `${sessionId} · LiveReview`;
    this.listen();
  }

  get canEdit(): boolean {
    if (this.refusedEdit) return false;
    return this.role === undefined || EDITORS.has(this.role);
  }

  get canComment(): boolean {
    return this.role === undefined || COMMENTERS.has(this.role);
  }

  async start(): Promise<void> {
    this.render();
    try {
      await this.client.connect();
    } catch {
      // The state listener shows why.
    }
  }

  private listen(): void {
    const c = this.client;
    c.on('state', (state, info) => {
      if (state === 'failed') this.failed(info.code ?? 0, info.reason ?? '', info.message ?? '');
      this.queueRender();
    });
    c.on('ready', () => {
      if (!this.selected || !c.file(this.selected)) this.select(c.files[0]);
      else this.editor.replaceText(c.file(this.selected)!.text);
      this.queueRender();
    });
    c.on('snapshot', () => {
      if (this.selected && c.file(this.selected)) this.editor.replaceText(c.file(this.selected)!.text);
      else if (c.files.length > 0) this.select(c.files[0]);
      this.queueRender();
    });
    c.on('file', (f) => {
      if (!this.selected) this.select(f.path);
      else if (f.path === this.selected) this.checkText(false);
      this.queueRender();
    });
    c.on('edit', (e) => {
      if (e.path === this.selected) {
        this.editor.applyRemote(e.op);
        this.checkText();
      }
      this.queueRender();
    });
    c.on('resync', (r) => {
      if (r.path === this.selected) this.checkText(false);
      this.queueRender();
    });
    c.on('rollback', (r) => {
      if (r.error.reason === 'ROLE_FORBIDS') {
        this.refusedEdit = true;
        this.editor.setReadOnly(true);
      }
      this.say(
        `Your edit of ${r.path} was refused (${r.error.reason || codeName(r.error.code)}): ${r.error.message}`,
      );
      if (r.path === this.selected) this.checkText(false);
      this.queueRender();
    });
    c.on('comment', () => this.queueRender());
    c.on('verdict', () => this.queueRender());
    c.on('viewed', () => this.queueRender());
    c.on('synced', () => this.queueRender());
    c.on('presence', (p) => {
      if (p.status === 'left' && this.cursors.delete(p.participantId)) this.showCursors();
      this.queueRender();
    });
    c.on('cursor', (cursor) => {
      this.cursors.set(cursor.participantId, cursor);
      this.showCursors();
      this.queueRender();
    });
    c.on('error', (e) => {
      if (!e.willRetry && e.reason !== 'ROLE_FORBIDS')
        this.say(`Refused (${e.reason || codeName(e.code)}): ${e.message}`);
    });
    // The browser knows when the network is gone: say "offline" rather than "reconnecting".
    window.addEventListener('online', () => this.queueRender());
    window.addEventListener('offline', () => this.queueRender());
    document.addEventListener('visibilitychange', () => {
      if (this.client.state === 'connected') this.client.setPresence(document.hidden ? 'idle' : 'active');
    });
    pauseWhenHidden(this.client);
  }

  /** Keeps the editor equal to the SDK's text (it is, unless an event was missed). */
  private checkText(repairing = true): void {
    const f = this.selected ? this.client.file(this.selected) : undefined;
    if (!f || this.editor.doc.toString() === f.text) return;
    if (repairing) {
      // A remote edit left the editor different from the SDK: a bug. Repair it, and count it where
      // tests (and anyone debugging) can see it.
      const repairs = Number(document.body.dataset.textRepairs ?? 0) + 1;
      document.body.dataset.textRepairs = String(repairs);
      console.warn(
        `editor text differed from the SDK's after an edit of ${this.selected}; repaired (${repairs})`,
      );
    }
    this.editor.replaceText(f.text);
  }

  private select(path: string | undefined): void {
    this.selected = path;
    this.marksKey = '';
    this.diffKey = '';
    const f = path ? this.client.file(path) : undefined;
    this.editor.open(path ?? '', f?.text ?? '', !this.canEdit);
    this.showCursors();
    this.queueRender();
    if (path) this.cursorMoved(1, 1);
  }

  private localEdit(op: TextOp): void {
    if (!this.selected) return;
    try {
      this.client.edit(this.selected, op);
    } catch (err) {
      // Nothing was applied in the SDK: show its text again.
      this.say(
        err instanceof OutboxFullError
          ? 'Too many changes wait for the server; wait until it is back.'
          : (err as Error).message,
      );
      queueMicrotask(() => this.checkText(false));
    }
    this.queueRender();
  }

  /** Sends the cursor at most every 100 ms (each is a request). */
  private cursorMoved(line: number, column: number): void {
    this.pendingCursor = { line, column };
    this.comments.lineChanged();
    if (this.cursorTimer || this.role === 'viewer') return;
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = undefined;
      const at = this.pendingCursor;
      if (at && this.selected) this.client.moveCursor(this.selected, at.line, at.column);
    }, 100);
  }

  private showCursors(): void {
    const mine = this.client.clientId;
    this.editor.setCursors(
      [...this.cursors.values()]
        .filter(
          (c) => c.path === this.selected && c.participantId !== mine && this.isPresent(c.participantId),
        )
        .map((c) => ({
          participantId: c.participantId,
          name: c.userId,
          color: colorOf(c.userId),
          line: c.line,
          column: c.column,
        })),
    );
  }

  private isPresent(participantId: string): boolean {
    return this.client.participants().some((p) => p.participantId === participantId);
  }

  private failed(code: number, reason: string, message: string): void {
    if (code === 16 /* UNAUTHENTICATED */ || reason === 'SESSION_FORBIDDEN') {
      this.askForToken(`${reason || codeName(code)}: ${message}`);
    } else {
      this.say(`The session ended: ${reason || codeName(code)}: ${message}`);
    }
  }

  /** Authentication is on and the token is missing, expired or not for this session. */
  private askForToken(why: string): void {
    forgetToken();
    const input = el('input', { type: 'password', id: 'token', autocomplete: 'off' });
    const form = el(
      'form',
      { className: 'token-form', 'aria-label': 'Sign in' },
      el('p', {}, `This server needs a token (${why}).`),
      el('label', { htmlFor: 'token' }, 'Bearer token'),
      input,
      el('button', { type: 'submit' }, 'Use token'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      storeToken(input.value);
      location.reload();
    });
    this.notice.replaceChildren(form);
    input.focus();
  }

  private say(message: string): void {
    this.notice.textContent = message;
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    setTimeout(() => {
      this.renderQueued = false;
      this.render();
    }, 0);
  }

  private render(): void {
    this.renderStatus();
    this.renderPeople();
    this.renderFiles();
    this.renderEditorMarks();
    this.comments.render();
    this.reviewPanel.render();
    const path = this.selected;
    this.viewedLabel.hidden = !path || !this.canComment;
    if (path) {
      const pending = this.viewedPending?.path === path ? this.viewedPending.viewed : undefined;
      this.viewed.checked = pending ?? this.client.isViewed(path);
    }
  }

  private renderStatus(): void {
    const state: ConnectionState = this.client.state;
    const queued = this.client.outboxSize;
    const offline = state === 'failed' || state === 'closed' || (state !== 'connected' && !navigator.onLine);
    const label = offline
      ? 'Offline'
      : state === 'connected'
        ? 'Live'
        : state === 'reconnecting'
          ? 'Reconnecting'
          : state === 'paused'
            ? 'Paused while hidden'
            : 'Connecting';
    const kind = offline ? 'offline' : state === 'connected' ? 'live' : 'reconnecting';
    const text = queued > 0 ? `${label} · ${queued} queued change${queued === 1 ? '' : 's'}` : label;
    if (this.status.textContent !== text) this.status.textContent = text;
    this.status.dataset.state = kind;
  }

  private renderPeople(): void {
    const mine = this.client.clientId;
    const seen = new Set<string>();
    const items: HTMLElement[] = [];
    for (const p of this.client.participants()) {
      if (p.participantId === mine || seen.has(p.participantId)) continue;
      seen.add(p.participantId);
      const status = p.status === 'idle' ? 'idle' : 'active';
      const cursor = this.cursors.get(p.participantId);
      const where = cursor ? ` · ${cursor.path}:${cursor.line}` : '';
      items.push(
        el(
          'li',
          { className: `person ${status}`, title: `${p.userId} is ${status}${where}` },
          el('span', {
            className: 'swatch',
            style: `background:${colorOf(p.userId)}`,
            'aria-hidden': 'true',
          }),
          `${p.userId} (${status})`,
        ),
      );
    }
    const key = items.map((i) => i.outerHTML).join('');
    if (this.people.dataset.key !== key) {
      this.people.dataset.key = key;
      this.people.replaceChildren(...items);
    }
  }

  private renderFiles(): void {
    const paths = this.client.files;
    const key = JSON.stringify([
      paths,
      this.selected,
      paths.map((p) => this.client.file(p)?.base.change ?? ''),
    ]);
    if (this.fileList.dataset.key === key) return;
    this.fileList.dataset.key = key;
    this.fileList.replaceChildren(
      ...paths.map((path) => {
        const change = this.client.file(path)?.base.change;
        const button = el(
          'button',
          {
            type: 'button',
            className: 'file',
            ...(path === this.selected ? { 'aria-current': 'true' } : {}),
          },
          el('span', { className: 'path' }, path),
          ...(change ? [el('span', { className: `change ${change}` }, change)] : []),
        );
        button.addEventListener('click', () => this.select(path));
        return el('li', {}, button);
      }),
    );
    const change = this.selected ? this.client.file(this.selected)?.base.change : undefined;
    this.fileTitle.textContent = this.selected
      ? `${this.selected}${change ? ` (${change})` : ''}`
      : 'No file yet';
  }

  private renderEditorMarks(): void {
    const path = this.selected;
    if (!path) return;
    const lines = new Map<number, number>();
    for (const t of this.client.comments()) {
      if (t.path !== path || t.parentId !== '' || t.state !== 'open' || t.outdated || t.side !== 'head')
        continue;
      lines.set(t.line, (lines.get(t.line) ?? 0) + 1);
    }
    const key = JSON.stringify([...lines]);
    if (this.marksKey !== key) {
      this.marksKey = key;
      this.editor.setCommentLines(lines);
    }
    const f = this.client.file(path);
    if (f && this.client.synced) {
      const d = this.client.diff(path);
      if (d?.status === 'diffed') {
        const changes: BaseChanges = { added: [], removed: [] };
        for (const h of d.hunks) {
          let lastHead = h.headStart - (h.headCount === 0 ? 0 : 1);
          let removed: string[] = [];
          const flush = () => {
            if (removed.length > 0) changes.removed.push({ after: lastHead, lines: removed });
            removed = [];
          };
          for (const l of h.lines) {
            if (l.kind === 'removed') {
              removed.push(l.text);
              continue;
            }
            flush();
            if (l.kind === 'added') changes.added.push(l.headLine!);
            lastHead = l.headLine!;
          }
          flush();
        }
        const key = JSON.stringify(changes);
        if (key !== this.diffKey) {
          this.diffKey = key;
          this.editor.setBaseChanges(changes);
        }
      }
    }
  }
}

export type { CommentInfo };
