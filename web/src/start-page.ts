// `/`: open a review by its session id, with your name (development mode) or a token.
import { storeToken } from './auth.js';
import { el } from './dom.js';

export class StartPage {
  constructor(root: HTMLElement) {
    const session = el('input', { id: 'session', name: 'session', required: true, autocomplete: 'off' });
    const user = el('input', { id: 'user', name: 'user', autocomplete: 'username' });
    const token = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off' });
    const form = el(
      'form',
      { className: 'start', 'aria-label': 'Open a review' },
      el('p', {}, el('label', { htmlFor: 'session' }, 'Session id'), session),
      el('p', {}, el('label', { htmlFor: 'user' }, 'Your name (development mode)'), user),
      el('p', {}, el('label', { htmlFor: 'token' }, 'Bearer token (when the server requires one)'), token),
      el('button', { type: 'submit' }, 'Open review'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const id = session.value.trim();
      if (!id) return;
      if (token.value.trim()) storeToken(token.value);
      const query = user.value.trim() ? `?user=${encodeURIComponent(user.value.trim())}` : '';
      location.assign(`/review/${encodeURIComponent(id)}${query}`);
    });
    root.replaceChildren(
      el(
        'main',
        { className: 'start-page' },
        el('h1', {}, 'LiveReview'),
        el('p', {}, 'A live code review: edits, comments and cursors as they happen.'),
        form,
      ),
    );
    session.focus();
  }
}
