// tabs.js - share the browser's connections with other tabs of this page.
//
// A browser opens at most six HTTP/1.1 connections to one server, for all
// its tabs together, and each tab of this page holds three of them (the
// long poll and two event streams).  With two tabs open, the second one's
// requests would wait behind the first one's held connections.  So: while
// another tab of the page is open, a tab the user cannot see pauses its
// panels, and resumes them (from the last id each showed: nothing is
// lost) when it is shown again.  A single tab never pauses, so watching
// it while publishing from a terminal works as expected.  Two windows of
// the page side by side, both visible, do share the six connections: the
// publish box then says why a request waits.
//
// Tabs find each other on a BroadcastChannel: each says "hello" when it
// starts and every PING_MS after, and "bye" when it goes away; a tab not
// heard from for 3 x PING_MS is forgotten.

const PING_MS = 5000;

// Returns { others() -> how many other tabs of the page are open }.
export function watchTabs({ pause, resume }) {
  if (typeof BroadcastChannel !== 'function') return { others: () => 0 };
  const me = Math.random().toString(36).slice(2);
  const peers = new Map();          // id -> last heard (ms)
  const bc = new BroadcastChannel('logcast-demo-tabs');
  let paused = false;

  const others = () => {
    const now = Date.now();
    for (const [id, t] of peers) if (now - t > 3 * PING_MS) peers.delete(id);
    return peers.size;
  };
  const decide = () => {
    const should = document.visibilityState === 'hidden' && others() > 0;
    if (should && !paused) {
      paused = true;
      pause();
    } else if (!should && paused) {
      paused = false;
      resume();
    }
  };
  const send = (type) => {
    try {
      bc.postMessage({ type, id: me });
    } catch { /* closing */ }
  };

  bc.onmessage = (ev) => {
    const { type, id } = ev.data || {};
    if (!id || id === me) return;
    if (type === 'bye') peers.delete(id);
    else {
      const isNew = !peers.has(id);
      peers.set(id, Date.now());
      if (type === 'hello' && isNew) send('here');
    }
    decide();
  };
  document.addEventListener('visibilitychange', decide);
  window.addEventListener('pagehide', () => send('bye'));
  setInterval(() => {
    send('hello');
    decide();
  }, PING_MS);
  send('hello');
  return { others };
}
