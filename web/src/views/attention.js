// "Needs attention" on the supervisor's dashboard: what may have kept an agency from learning of an
// emergency. Webhooks delivery gave up on (redeliver them, or phone the agency) and dispatches no
// agency has acknowledged in time (phone the agency).
import { h, toast } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime, duration } from '../time.js';
import * as api from '../api.js';
import { categoryColour, categoryName } from './common.js';

// How many dead letters one look fetches: more than a centre should ever have at once.
const DEAD_LIMIT = 200;

/** Both lists, read together; ``fetchedAt`` lets waiting times run on between reads. */
export async function load() {
  const [dead, overdue] = await Promise.all([
    api.get(`${api.paths.deadLetters}?limit=${DEAD_LIMIT}`),
    api.get(api.paths.overdue),
  ]);
  return {
    dead: dead.items || [],
    deadMore: dead.next_cursor != null,
    overdue: overdue.items || [],
    overdueTotal: overdue.total ?? (overdue.items || []).length,
    threshold: overdue.threshold_seconds,
    fetchedAt: Date.now(),
  };
}

/** The number the wallboard tile shows ("200+" when there are more dead letters than fetched). */
export function count(data) {
  if (!data) return null;
  const n = data.dead.length + data.overdueTotal;
  return data.deadMore ? `${n}+` : n;
}

function waited(data, item) {
  return item.waiting_seconds + (Date.now() - data.fetchedAt) / 1000;
}

/** Moves the waiting times on without redrawing the list (its buttons stay where they are). */
export function tick(root, data) {
  if (!root || !data) return;
  for (const el of root.querySelectorAll('[data-waited]')) {
    const item = data.overdue.find((d) => String(d.dispatch_id) === el.dataset.waited);
    if (item) el.textContent = t('attention.waited', { d: duration(waited(data, item)) });
  }
}

function threshold(seconds) {
  if (seconds == null) return '';
  return seconds % 60 === 0 ? t('time.ago.m', { n: seconds / 60 }) : t('time.ago.s', { n: seconds });
}

function agencyLabel(name, code) {
  return name || String(code || '').toUpperCase();
}

/**
 * The attention list for the side pane. ``onTicket(id)`` opens a ticket; ``onRedelivered(item)``
 * runs after the server put a dead message back in line.
 */
export function panel(data, { categories, onTicket, onRedelivered }) {
  const box = h('div', { class: 'attention', 'data-testid': 'attention' });
  if (!data) return box;
  if (!data.dead.length && !data.overdue.length) {
    box.append(h('p', { class: 'muted', 'data-testid': 'attention-none' }, t('attention.none')));
    return box;
  }
  if (data.dead.length) {
    box.append(h('section', { class: 'attn-section', 'data-testid': 'attention-dead' },
      h('h4', { class: 'attn-title' }, t('attention.dead'), h('span', { class: 'count' }, count({ ...data, overdueTotal: 0 }))),
      h('p', { class: 'muted small' }, t('attention.dead.hint')),
      data.dead.map((m) => deadRow(m, { onTicket, onRedelivered })),
    ));
  }
  if (data.overdue.length) {
    box.append(h('section', { class: 'attn-section', 'data-testid': 'attention-overdue' },
      h('h4', { class: 'attn-title' }, t('attention.overdue', { t: threshold(data.threshold) }), h('span', { class: 'count' }, data.overdueTotal)),
      h('p', { class: 'muted small' }, t('attention.overdue.hint')),
      data.overdue.map((d) => overdueRow(data, d, { categories, onTicket })),
      data.overdueTotal > data.overdue.length ? h('p', { class: 'muted small' }, t('attention.more', { n: data.overdueTotal - data.overdue.length })) : null,
    ));
  }
  return box;
}

function ticketLink(id, number, onTicket) {
  if (!id) return h('span', { class: 'mono muted' }, '—');
  return h('button', { class: 'link mono', type: 'button', onclick: () => onTicket(id) }, number);
}

function deadRow(m, { onTicket, onRedelivered }) {
  const button = h('button', { class: 'btn btn-primary btn-small', type: 'button', 'data-testid': 'redeliver' }, t('attention.redeliver'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api.post(api.paths.redeliver(m.message_id));
    } catch (err) {
      button.disabled = false;
      toast(err.message || t('error.generic'), 'error');
      return;
    }
    toast(t('attention.redelivered', { agency: agencyLabel(m.agency_name, m.agency) }), 'ok');
    onRedelivered(m);
  });
  return h('div', { class: 'attn-item attn-dead', 'data-testid': 'dead-letter', 'data-message-id': m.message_id },
    h('div', { class: 'li-top' },
      h('strong', {}, agencyLabel(m.agency_name, m.agency)),
      ticketLink(m.ticket_id, m.ticket_number, onTicket)),
    h('div', { class: 'li-sub' },
      h('span', { title: m.event_type }, t(`webhook.${m.event_type}`)), ' · ',
      t('attention.attempts', { n: m.attempts })),
    m.last_error ? h('div', { class: 'attn-error mono', 'data-testid': 'last-error' }, m.last_error) : null,
    h('div', { class: 'attn-foot' },
      h('span', { class: 'li-meta' }, t('attention.gave_up', { at: dateTime(m.dead_at) })),
      button),
  );
}

function overdueRow(data, d, { categories, onTicket }) {
  const delivery = d.delivery_state || 'none';
  return h('div', { class: 'attn-item attn-overdue', 'data-testid': 'overdue-dispatch', 'data-dispatch-id': d.dispatch_id },
    h('div', { class: 'li-top' },
      h('strong', {}, agencyLabel(d.agency_name, d.agency_code)),
      ticketLink(d.ticket_id, d.ticket_number, onTicket)),
    h('div', { class: 'li-sub' },
      h('span', { class: 'cat-dot', style: `--c:${categoryColour(d.category)}` }), ' ',
      categoryName(categories, d.category) || t('cat.unknown')),
    h('div', { class: 'attn-foot' },
      h('span', { class: 'attn-waited mono', 'data-waited': d.dispatch_id }, t('attention.waited', { d: duration(waited(data, d)) })),
      h('span', { class: `chip delivery-${delivery}`, 'data-testid': 'delivery-state' }, t(`delivery.${delivery}`))),
  );
}
