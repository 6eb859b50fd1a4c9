// The live event stream (SSE). EventSource cannot send headers, so the token rides in the query.
import { paths, token } from './api.js';

const EVENTS = ['ticket.opened', 'ticket.updated', 'call.answered', 'call.ended', 'dispatch.updated', 'queue.updated'];

export function connect(onEvent, onStatus = () => {}) {
  let source = null;
  let closed = false;
  let retry = 1000;

  function dispatch(name, raw) {
    let data = {};
    try { data = JSON.parse(raw); } catch { return; }
    // Accept both a named SSE event with its data, and an envelope {event, data}.
    if (data && typeof data === 'object' && 'event' in data && 'data' in data && !name) {
      onEvent(data.event, data.data || {});
    } else {
      onEvent(name || data.event, data);
    }
  }

  function open() {
    if (closed) return;
    source = new EventSource(`${paths.stream}?access_token=${encodeURIComponent(token() || '')}`);
    source.onopen = () => { retry = 1000; onStatus(true); };
    source.onmessage = (e) => dispatch(null, e.data);
    for (const name of EVENTS) source.addEventListener(name, (e) => dispatch(name, e.data));
    source.onerror = () => {
      onStatus(false);
      source.close();
      if (!closed) setTimeout(open, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  open();
  return () => { closed = true; source?.close(); };
}
