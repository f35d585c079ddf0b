// The web app's entry: `/` is the start page, `/review/<session id>` a live review.
import { identityFromToken, takeToken, type Identity } from './auth.js';
import { ReviewPage, type ProtocolName } from './review-page.js';
import { StartPage } from './start-page.js';
import './styles.css';

const root = document.getElementById('app')!;
const match = /^\/review\/([^/]+)\/?$/.exec(location.pathname);

if (!match) {
  new StartPage(root);
} else {
  const sessionId = decodeURIComponent(match[1]!);
  const identity = identify(sessionId);
  if (identity) {
    const page = new ReviewPage(root, {
      sessionId,
      identity,
      baseUrl: location.origin,
      protocol: protocolOf(),
    });
    void page.start();
  }
}

/** Who the user is: a bearer token's subject (authentication on), or `?user=` (development mode). */
function identify(sessionId: string): Identity | undefined {
  const token = takeToken();
  if (token) return identityFromToken(token, sessionId);
  const params = new URLSearchParams(location.search);
  let user = params.get('user')?.trim();
  if (!user) {
    user = window.prompt('Your name in this review')?.trim();
    if (!user) {
      root.textContent = 'A name is needed to join (add ?user=<name> to the address).';
      return undefined;
    }
    params.set('user', user);
    history.replaceState(history.state, '', `${location.pathname}?${params.toString()}${location.hash}`);
  }
  return { userId: user };
}

/** `?protocol=grpc-web` or `connect-json` (for proxies that pass only one); default: Connect binary. */
function protocolOf(): ProtocolName {
  const p = new URLSearchParams(location.search).get('protocol');
  return p === 'grpc-web' || p === 'connect-json' ? p : 'connect';
}
