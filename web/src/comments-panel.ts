// The comment side panel of the selected file: a box to comment on the cursor's line, and the
// threads at their lines (they move with the code), each with its replies, a reply box, resolve /
// reopen, and a way to the line. Resolved threads are hidden unless asked for; outdated ones (all
// their code deleted) are marked and show the line they were about.
//
// Threads are kept as elements keyed by comment id and updated in place, so a reply being typed
// keeps its text and focus while others comment, edit and move lines.
import type { CommentInfo, SessionClient } from '../../src/client/browser.js';
import { colorOf, el } from './dom.js';

export interface CommentsPanelHooks {
  client: SessionClient;
  userId: string;
  canComment(): boolean;
  /** Whether this user may change the text (apply a suggestion). */
  canEdit(): boolean;
  /** The lines of the editor's selection (1-based, inclusive) and their text. */
  selectedLines(): { start: number; end: number; text: string };
  currentPath(): string | undefined;
  /** The editor's cursor line (1-based). */
  currentLine(): number;
  goToLine(line: number): void;
  onChange(): void;
  report(message: string): void;
}

export class CommentsPanel {
  readonly element: HTMLElement;
  private readonly list = el('ol', { className: 'threads' });
  private readonly showResolved = el('input', { type: 'checkbox', id: 'show-resolved' });
  private readonly newText = el('textarea', { id: 'new-comment', rows: '3' });
  private readonly newTarget = el('p', { className: 'target', id: 'new-comment-target' });
  private readonly newForm: HTMLFormElement;
  private readonly suggestToggle = el('input', { type: 'checkbox', id: 'suggest-toggle' });
  private readonly suggestText = el('textarea', { id: 'suggested-code', rows: '3', spellcheck: 'false' });
  private readonly suggestBox: HTMLElement;
  private readonly empty = el('p', { className: 'empty' }, 'No comments on this file yet.');
  private readonly threads = new Map<string, ThreadView>();
  /** Comments and replies sent but not acknowledged yet (offline, or on their way). */
  private readonly pendingList = el('ul', { className: 'pending', 'aria-label': 'Waiting to be sent' });

  constructor(private readonly hooks: CommentsPanelHooks) {
    this.newText.setAttribute('aria-describedby', 'new-comment-target');
    this.suggestBox = el(
      'p',
      { className: 'suggest-box', hidden: true },
      el('label', { htmlFor: 'suggested-code' }, 'Suggested code'),
      this.suggestText,
    );
    this.newForm = el(
      'form',
      { className: 'new-comment' },
      el('label', { htmlFor: 'new-comment' }, 'Comment'),
      this.newTarget,
      this.newText,
      el(
        'p',
        { className: 'toggle' },
        this.suggestToggle,
        el('label', { htmlFor: 'suggest-toggle' }, 'Suggest a change'),
      ),
      this.suggestBox,
      el('button', { type: 'submit' }, 'Add comment'),
    );
    this.suggestToggle.addEventListener('change', () => {
      this.suggestBox.hidden = !this.suggestToggle.checked;
      if (this.suggestToggle.checked) this.suggestText.value = this.hooks.selectedLines().text;
      this.lineChanged();
    });
    this.newForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.addComment();
    });
    submitOnCtrlEnter(this.newText, () => this.addComment());
    this.showResolved.addEventListener('change', () => this.render());
    this.element = el(
      'aside',
      { className: 'comments', 'aria-label': 'Comments' },
      el('h2', {}, 'Comments'),
      this.newForm,
      el(
        'p',
        { className: 'toggle' },
        this.showResolved,
        el('label', { htmlFor: 'show-resolved' }, 'Show resolved'),
      ),
      this.pendingList,
      this.empty,
      this.list,
    );
    this.pendingList.hidden = true;
  }

  /** The cursor moved: the new comment goes on its line. */
  lineChanged(): void {
    const path = this.hooks.currentPath();
    let target = '';
    if (path && this.suggestToggle.checked) {
      const { start, end } = this.hooks.selectedLines();
      target =
        start === end
          ? `Suggesting for line ${start} of ${path}`
          : `Suggesting for lines ${start}-${end} of ${path}`;
    } else if (path) target = `On line ${this.hooks.currentLine()} of ${path}`;
    if (this.newTarget.textContent !== target) this.newTarget.textContent = target;
  }

  /** Shows the first thread on `line` (a gutter marker was clicked). */
  focusLine(line: number): void {
    const path = this.hooks.currentPath();
    const t = this.hooks.client
      .comments()
      .find((c) => c.path === path && c.parentId === '' && c.line === line && c.side === 'head');
    const view = t && this.threads.get(t.id);
    if (view) {
      view.element.scrollIntoView({ block: 'nearest' });
      view.element.focus();
    } else {
      this.hooks.goToLine(line);
      this.newText.focus();
    }
  }

  private addComment(): void {
    const path = this.hooks.currentPath();
    const text = this.newText.value.trim();
    if (!path || !text) return;
    const line = this.hooks.currentLine();
    this.newText.value = '';
    let sent;
    if (this.suggestToggle.checked) {
      const { start, end } = this.hooks.selectedLines();
      sent = this.hooks.client.suggest(path, start, end, this.suggestText.value, text);
      this.suggestToggle.checked = false;
      this.suggestBox.hidden = true;
    } else {
      sent = this.hooks.client.comment(path, line, text);
    }
    this.track(`On line ${line}: ${text}`, sent).then(
      () => this.hooks.onChange(),
      (err: Error) => {
        if (!this.newText.value) this.newText.value = text;
        this.hooks.report(`Your comment was not saved: ${err.message}`);
      },
    );
    this.hooks.onChange();
  }

  /** Shows `label` under "Waiting to be sent" until `sent` settles. */
  private track<T>(label: string, sent: Promise<T>): Promise<T> {
    const item = el('li', {}, `${label} (waiting for the server)`);
    this.pendingList.append(item);
    this.pendingList.hidden = false;
    const done = () => {
      item.remove();
      this.pendingList.hidden = this.pendingList.childElementCount === 0;
    };
    sent.then(done, done);
    return sent;
  }

  render(): void {
    const canComment = this.hooks.canComment();
    this.newForm.hidden = !canComment;
    this.lineChanged();
    const path = this.hooks.currentPath();
    const all = this.hooks.client.comments();
    const replies = new Map<string, CommentInfo[]>();
    for (const c of all) {
      if (c.parentId) replies.set(c.parentId, [...(replies.get(c.parentId) ?? []), c]);
    }
    const roots = all
      .filter((c) => c.parentId === '' && c.path === path)
      .filter((c) => c.state === 'open' || this.showResolved.checked)
      .sort((a, b) => Number(a.outdated) - Number(b.outdated) || a.line - b.line || a.id.localeCompare(b.id));
    const shown = new Set(roots.map((r) => r.id));
    for (const [id, view] of this.threads) {
      if (!shown.has(id)) {
        view.element.parentElement?.remove();
        this.threads.delete(id);
      }
    }
    const items: HTMLElement[] = [];
    for (const root of roots) {
      let view = this.threads.get(root.id);
      if (!view) {
        view = new ThreadView(root.id, this.hooks, (label, sent) => this.track(label, sent));
        this.threads.set(root.id, view);
      }
      view.update(root, replies.get(root.id) ?? [], canComment);
      items.push(view.item);
    }
    // Reorder only when the order changed: moving an element would take the focus from its reply box.
    const current = [...this.list.children];
    if (current.length !== items.length || current.some((c, i) => c !== items[i]))
      this.list.replaceChildren(...items);
    this.empty.hidden = roots.length > 0;
  }
}

class ThreadView {
  readonly item = el('li');
  readonly element: HTMLElement;
  private readonly header = el('p', { className: 'thread-head' });
  private readonly body = el('p', { className: 'thread-text' });
  private readonly original = el('pre', { className: 'original' });
  private readonly suggestion = el('div', { className: 'suggestion' });
  private readonly applyButton = el('button', { type: 'button' }, 'Apply suggestion');
  private readonly replies = el('ol', { className: 'replies' });
  private readonly replyText: HTMLTextAreaElement;
  private readonly replyForm: HTMLFormElement;
  private readonly resolveButton = el('button', { type: 'button' }, 'Resolve');
  private readonly goButton = el('button', { type: 'button', className: 'go' }, 'Go to line');
  private comment: CommentInfo | undefined;
  private key = '';

  constructor(
    private readonly id: string,
    private readonly hooks: CommentsPanelHooks,
    private readonly track: <T>(label: string, sent: Promise<T>) => Promise<T>,
  ) {
    this.replyText = el('textarea', { rows: '2', 'aria-label': 'Reply' });
    this.replyForm = el(
      'form',
      { className: 'reply' },
      this.replyText,
      el('button', { type: 'submit' }, 'Reply'),
    );
    this.replyForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.reply();
    });
    submitOnCtrlEnter(this.replyText, () => this.reply());
    this.resolveButton.addEventListener('click', () => this.toggleResolved());
    this.applyButton.addEventListener('click', () => this.applySuggestion());
    this.goButton.addEventListener('click', () => this.comment && this.hooks.goToLine(this.comment.line));
    this.element = el(
      'article',
      { className: 'thread', tabindex: '-1' },
      this.header,
      this.body,
      this.original,
      this.suggestion,
      this.replies,
      this.replyForm,
      el('p', { className: 'actions' }, this.goButton, this.resolveButton, this.applyButton),
    );
    this.item.append(this.element);
  }

  update(root: CommentInfo, replies: CommentInfo[], canComment: boolean): void {
    this.comment = root;
    const canEdit = this.hooks.canEdit();
    const key = JSON.stringify([root, replies, canComment, canEdit]);
    if (key === this.key) return;
    this.key = key;
    const where = root.side === 'base' ? `base line ${root.line}` : `line ${root.line}`;
    this.element.setAttribute('aria-label', `Thread on ${where} by ${root.authorId}`);
    this.element.dataset.line = String(root.line);
    this.element.dataset.state = root.state;
    this.element.classList.toggle('outdated', root.outdated);
    this.element.classList.toggle('resolved', root.state === 'resolved');
    const badges: HTMLElement[] = [];
    if (root.outdated) badges.push(el('span', { className: 'badge outdated' }, 'Outdated'));
    if (root.state === 'resolved') badges.push(el('span', { className: 'badge resolved' }, 'Resolved'));
    if (root.suggestion)
      badges.push(el('span', { className: 'badge' }, `Suggestion (${root.suggestion.status})`));
    this.header.replaceChildren(author(root.authorId), ` on ${where} `, ...badges);
    this.body.textContent = root.text;
    this.original.hidden = !root.outdated || !root.originalLineText;
    this.original.textContent = root.outdated ? `was: ${root.originalLineText}` : '';
    const sg = root.suggestion;
    this.suggestion.hidden = !sg;
    if (sg) {
      const lines = (text: string) => (text.endsWith('\n') ? text.slice(0, -1) : text);
      this.suggestion.setAttribute('role', 'group');
      this.suggestion.setAttribute('aria-label', `Suggested change (${sg.status})`);
      this.suggestion.replaceChildren(
        el('pre', { className: 'del' }, lines(sg.originalText)),
        el('pre', { className: 'ins' }, lines(sg.replacement) || '(delete the lines)'),
      );
    }
    this.applyButton.hidden = !sg || sg.status !== 'pending' || !canEdit;
    this.replies.replaceChildren(
      ...replies.map((r) =>
        el('li', { className: 'reply-item' }, author(r.authorId), ': ', el('span', {}, r.text)),
      ),
    );
    this.goButton.textContent = `Go to line ${root.line}`;
    this.goButton.hidden = root.outdated || root.side === 'base';
    this.resolveButton.textContent = root.state === 'resolved' ? 'Reopen' : 'Resolve';
    this.resolveButton.hidden = !canComment;
    this.replyForm.hidden = !canComment;
  }

  private reply(): void {
    const text = this.replyText.value.trim();
    if (!text) return;
    this.replyText.value = '';
    const to = this.comment ? ` to ${this.comment.authorId}` : '';
    this.track(`Reply${to}: ${text}`, this.hooks.client.reply(this.id, text)).then(
      () => this.hooks.onChange(),
      (err: Error) => {
        if (!this.replyText.value) this.replyText.value = text;
        this.hooks.report(`Your reply was not saved: ${err.message}`);
      },
    );
  }

  private applySuggestion(): void {
    this.hooks.client.applySuggestion(this.id).then(
      () => this.hooks.onChange(),
      (err: Error) => this.hooks.report(`The suggestion was not applied: ${err.message}`),
    );
  }

  private toggleResolved(): void {
    const resolved = this.comment?.state === 'resolved';
    const done = resolved ? this.hooks.client.reopen(this.id) : this.hooks.client.resolve(this.id);
    done.then(
      () => this.hooks.onChange(),
      (err: Error) =>
        this.hooks.report(`Could not ${resolved ? 'reopen' : 'resolve'} the thread: ${err.message}`),
    );
  }
}

function author(userId: string): HTMLElement {
  return el('strong', { className: 'author', style: `color:${colorOf(userId)}` }, userId);
}

function submitOnCtrlEnter(area: HTMLTextAreaElement, submit: () => void): void {
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    }
  });
}
