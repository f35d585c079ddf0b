// Hidden review tabs give their connection back where the browser has few (HTTP/1.1).
//
// Over HTTP/1.1 a browser keeps at most six connections to one origin, and a live review holds one
// for as long as it is open (its Subscribe): with six review tabs open in one browser, a seventh
// never loaded and no tab could submit. So where the page came over HTTP/1.1 and CROWDED or more
// review tabs of this origin are open in this browser (they count each other over a
// BroadcastChannel), a tab hidden for HIDDEN_MS pauses its client: it leaves the session and keeps
// everything, and joins again from where it was when shown. Over HTTP/2 (the server over TLS) one
// connection carries every tab, and no tab pauses.

/** Review tabs open at which hidden ones pause: before the six connections a browser allows are
 * all held, so a new tab and the open tabs' calls still find one. */
const CROWDED = 4;
/** How long a tab stays hidden before it pauses (switching tabs briefly changes nothing). */
const HIDDEN_MS = 3000;

type TabMessage = { type: 'hello' | 'here' | 'bye'; id: string };

export interface Pausable {
  pause(): void;
  resume(): void;
}

/** Pauses `client` while its tab is hidden, where that frees a connection others need. */
export function pauseWhenHidden(client: Pausable): void {
  const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
  if (navigation?.nextHopProtocol !== 'http/1.1' || typeof BroadcastChannel === 'undefined') return;
  const id = crypto.randomUUID();
  const others = new Set<string>();
  const channel = new BroadcastChannel('livereview-review-tabs');
  let timer: ReturnType<typeof setTimeout> | undefined;

  const check = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (!document.hidden) return client.resume();
    if (others.size + 1 < CROWDED) return;
    timer = setTimeout(() => {
      if (document.hidden && others.size + 1 >= CROWDED) client.pause();
    }, HIDDEN_MS);
  };

  channel.onmessage = (e: MessageEvent<TabMessage>) => {
    const m = e.data;
    if (m.type === 'bye') others.delete(m.id);
    else others.add(m.id);
    if (m.type === 'hello') channel.postMessage({ type: 'here', id } satisfies TabMessage);
    // A tab opened: hidden ones may now be too many; one closed: nothing to undo until shown.
    if (m.type === 'hello' && document.hidden && timer === undefined) check();
  };
  channel.postMessage({ type: 'hello', id } satisfies TabMessage);
  addEventListener('pagehide', () => channel.postMessage({ type: 'bye', id } satisfies TabMessage));
  addEventListener('pageshow', (e) => {
    if (e.persisted) channel.postMessage({ type: 'hello', id } satisfies TabMessage);
  });
  document.addEventListener('visibilitychange', check);
}
