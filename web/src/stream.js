// The live event stream (Server-Sent Events), read with fetch so the token goes in the
// Authorization header (never in a URL, where access logs would keep it). Reconnects by itself.
import { paths, token } from './api.js';

/** Parses SSE text into {event, data} messages; returns what is left of an unfinished one. */
export function parse(buffer, onMessage) {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue; // comment: connected, heartbeat
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) onMessage(event, data.join('\n'));
  }
  return rest;
}

export function connect(onEvent, onStatus = () => {}) {
  let closed = false;
  let controller = null;
  let retry = 1000;

  function deliver(name, raw) {
    let data;
    try { data = JSON.parse(raw); } catch { return; }
    if (name === 'message' && data && typeof data === 'object' && 'event' in data) {
      onEvent(data.event, data.data || {}); // an envelope {event, data}
    } else {
      onEvent(name, data || {});
    }
  }

  async function run() {
    while (!closed) {
      controller = new AbortController();
      try {
        const response = await fetch(paths.stream, {
          headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token() || ''}` },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        onStatus(true);
        retry = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = parse(buffer + value, deliver);
        }
      } catch { /* dropped or refused: try again below */ }
      onStatus(false);
      if (closed) return;
      await new Promise((resolve) => setTimeout(resolve, retry));
      retry = Math.min(retry * 2, 15000);
    }
  }

  run();
  return () => { closed = true; controller?.abort(); };
}
