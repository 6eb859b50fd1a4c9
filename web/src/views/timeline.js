// A ticket's timeline: every change and event, oldest first, in the centre's time zone.
import { h, clear } from '../dom.js';
import { t } from '../i18n.js';
import { timeOf } from '../time.js';

function label(entry) {
  const kind = entry.kind || entry.action || '';
  if (kind.startsWith('dispatch.')) {
    const state = kind.slice('dispatch.'.length);
    return `${String(entry.actor || '').toUpperCase()} · ${t(`dstate.${state}`)}`;
  }
  const text = t(`tl.${kind}`);
  return text === `tl.${kind}` ? kind : text;
}

function detail(entry) {
  const kind = entry.kind || '';
  const data = entry.data || {};
  const after = data.after || {};
  const parts = [];
  if (kind === 'ticket.classify' && after.classification) parts.push(t(`class.${after.classification}`));
  else if (kind === 'ticket.state' && after.state) parts.push(t(`state.${after.state}`));
  else if (kind === 'ticket.update') {
    const names = Object.keys(after).filter((k) => k !== 'updated_at').map((k) => {
      const key = `field.${k}`;
      const text = t(key);
      return text === key ? k : text;
    });
    parts.push(names.slice(0, 3).join(', ') + (names.length > 3 ? ` +${names.length - 3}` : ''));
  } else if (kind.startsWith('dispatch.')) {
    if (data.officer_name) parts.push(data.officer_name);
    if (data.note) parts.push(data.note);
    if (data.latitude != null) parts.push(`${Number(data.latitude).toFixed(4)}, ${Number(data.longitude).toFixed(4)}`);
  } else if (kind.startsWith('call.')) {
    if (data.calltaker) parts.push(data.calltaker);
    if (data.queue) parts.push(data.queue);
  }
  return parts.filter(Boolean).join(' · ');
}

export function renderTimeline(box, ticket) {
  clear(box);
  const entries = [...(ticket.timeline || [])].sort((a, b) => new Date(a.at) - new Date(b.at));
  if (!entries.length) {
    box.append(h('p', { class: 'muted' }, t('timeline.empty')));
    return;
  }
  const list = h('ol', { class: 'timeline' });
  for (const e of entries) {
    const kind = e.kind || '';
    list.append(h('li', { class: `tl-${kind.split('.')[0]}` },
      h('span', { class: 'tl-time mono' }, timeOf(e.at)),
      h('span', { class: 'tl-what' }, label(e)),
      h('span', { class: 'tl-detail' }, [e.actor && !kind.startsWith('dispatch.') ? e.actor : null, detail(e)].filter(Boolean).join(' · ')),
    ));
  }
  box.append(list);
}
