// A ticket's timeline: every change and event, newest last, in the centre's time zone.
import { h, clear } from '../dom.js';
import { t } from '../i18n.js';
import { timeOf } from '../time.js';

function label(entry) {
  const kind = entry.kind || entry.action || entry.event || entry.type || '';
  const state = entry.state || entry.after?.state || entry.data?.state;
  if (kind.includes('dispatch') && state) return `${kind} → ${t(`dstate.${state}`)}`;
  if (state && !kind) return t(`state.${state}`);
  return kind;
}

function detail(entry) {
  const parts = [];
  const d = entry.data || entry.after || entry.details || {};
  if (entry.note || d.note) parts.push(entry.note || d.note);
  if (entry.summary) parts.push(entry.summary);
  if (d.officer_name) parts.push(d.officer_name);
  if (d.agency_code || entry.agency_code) parts.push(String(d.agency_code || entry.agency_code).toUpperCase());
  if (d.classification) parts.push(t(`class.${d.classification}`));
  if (d.calltaker) parts.push(d.calltaker);
  return parts.join(' · ');
}

export function renderTimeline(box, ticket) {
  clear(box);
  const entries = [...(ticket.timeline || ticket.events || [])]
    .sort((a, b) => new Date(a.at || a.created_at) - new Date(b.at || b.created_at));
  if (!entries.length) {
    box.append(h('p', { class: 'muted' }, t('timeline.empty')));
    return;
  }
  const list = h('ol', { class: 'timeline' });
  for (const e of entries) {
    list.append(h('li', {},
      h('span', { class: 'tl-time mono' }, timeOf(e.at || e.created_at)),
      h('span', { class: 'tl-what' }, label(e)),
      e.actor ? h('span', { class: 'tl-who' }, e.actor) : null,
      h('span', { class: 'tl-detail' }, detail(e)),
    ));
  }
  box.append(list);
  list.lastElementChild?.scrollIntoView?.({ block: 'nearest' });
}
