// The supervisor's dashboard: a live wallboard, a map of open tickets and field officers, and what
// needs the supervisor's action on the hand-off to agencies.
import { h, clear, toast } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime, duration, timeOf } from '../time.js';
import * as api from '../api.js';
import { connect } from '../stream.js';
import { mount, setLive, topbar } from '../shell.js';
import { renderTimeline } from './timeline.js';
import { categoryColour, categoryName, dispatchChip, loadCategories, stateChip } from './common.js';
import * as attention from './attention.js';

// ``side``: what the side pane lists when no ticket is open ('open' tickets or 'attention').
const state = { summary: null, fetchedAt: 0, live: null, map: { tickets: [], units: [] }, selected: null, categories: [], attention: null, side: 'open' };
let ctx;
let map;
let ticketLayer;
let unitLayer;
let fitted = false;
let refreshTimer;
let attentionTimer;
let safetyTimer;
let stopStream;
let tickTimer;

// Stream events that can change what needs attention: a dispatch sent, acknowledged or cancelled;
// a webhook message given up on or put back in line.
const ATTENTION_EVENTS = ['dispatch.updated', 'delivery.updated'];

export async function show(context) {
  ctx = context;
  state.categories = await loadCategories();
  layout();
  await Promise.all([refresh(), refreshAttention()]);
  if (stopStream) stopStream();
  stopStream = connect(onEvent, setLive);
  clearInterval(tickTimer);
  tickTimer = setInterval(() => {
    renderWallboard();
    attention.tick(document.getElementById('side'), state.attention);
  }, 1000);
  // A safety net for anything the stream missed (and dispatches turning overdue); never a reload.
  clearInterval(safetyTimer);
  safetyTimer = setInterval(() => { refresh(); refreshAttention(); }, 15000);
}

function layout() {
  fitted = false;
  mount(
    topbar({ view: 'supervisor', config: ctx.config, onLanguage: () => { layout(); refresh(); refreshAttention(); } }),
    h('section', { class: 'wallboard', id: 'wallboard', 'data-testid': 'wallboard' }),
    h('main', { class: 'supervisor' },
      h('div', { class: 'map-wrap' },
        h('div', { id: 'map', class: 'map', 'data-testid': 'map' }),
        h('div', { class: 'map-notice', id: 'map-notice', hidden: true }, t('map.notiles')),
        legend(),
      ),
      h('aside', { class: 'pane side-pane', id: 'side' }),
    ),
  );
  setupMap();
  renderWallboard();
  renderSide();
}

function legend() {
  return h('div', { class: 'map-legend' },
    h('span', { class: 'lg-item' }, h('span', { class: 'lg-pin' }), t('map.tickets')),
    h('span', { class: 'lg-item' }, h('span', { class: 'lg-unit' }), t('map.units')),
  );
}

function setupMap() {
  const cfg = ctx.config.map || { lat: -3.39, lon: 104.83, zoom: 12 };
  if (map) map.remove();
  map = L.map('map', { center: [cfg.lat, cfg.lon], zoom: cfg.zoom, zoomControl: true, attributionControl: true });
  if (ctx.config.tile_url) {
    let errors = 0;
    const tiles = L.tileLayer(ctx.config.tile_url, { maxZoom: 19, attribution: ctx.config.tile_attribution || '' });
    tiles.on('tileerror', () => {
      errors += 1;
      if (errors >= 1) {
        document.getElementById('map-notice')?.removeAttribute('hidden');
        document.getElementById('map')?.classList.add('no-tiles');
      }
    });
    tiles.on('tileload', () => document.getElementById('map')?.classList.remove('no-tiles'));
    tiles.addTo(map);
  }
  ticketLayer = L.layerGroup().addTo(map);
  unitLayer = L.layerGroup().addTo(map);
}

// ---- data --------------------------------------------------------------------------------------

function onEvent(name, data) {
  if (name === 'queue.updated') {
    state.live = data;
    renderWallboard();
    return;
  }
  if (ATTENTION_EVENTS.includes(name)) {
    clearTimeout(attentionTimer);
    attentionTimer = setTimeout(refreshAttention, 250);
  }
  if (name === 'delivery.updated') return; // no ticket or map change
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 250);
  if (state.selected && Number(data.ticket_id ?? data.id) === state.selected.id) openTicket(state.selected.id);
}

async function refresh() {
  try {
    const [summary, items] = await Promise.all([api.get(api.paths.wallboard), api.get(api.paths.map)]);
    state.summary = summary;
    state.fetchedAt = Date.now();
    state.map = items;
  } catch (err) {
    if (err.status !== 401) toast(t('error.network'), 'error');
    return;
  }
  renderWallboard();
  renderMarkers();
  renderSide();
}

async function refreshAttention() {
  try {
    state.attention = await attention.load();
  } catch (err) {
    if (err.status !== 401) toast(err.status ? err.message : t('error.network'), 'error');
    return;
  }
  renderWallboard();
  if (state.side === 'attention' && !state.selected) renderSide();
}

// ---- the wallboard -----------------------------------------------------------------------------

function tile(key, value, cls, sub, testid) {
  return h('div', { class: `tile ${cls}`, 'data-testid': testid },
    h('div', { class: 'tile-label' }, t(key, { s: state.summary?.answer_target_seconds ?? 10 })),
    h('div', { class: 'tile-value mono' }, value),
    sub ? h('div', { class: 'tile-sub' }, sub) : null);
}

function renderWallboard() {
  const box = document.getElementById('wallboard');
  if (!box) return;
  const s = state.summary || {};
  const live = state.live || {};
  const waiting = live.waiting ?? s.waiting;
  let longest = live.longest_wait_seconds ?? s.longest_wait_seconds;
  if (longest != null && !live.longest_wait_seconds) longest += (Date.now() - state.fetchedAt) / 1000;
  const ct = { ...(s.calltakers || {}), ...(live.calltakers || {}) };
  const share = s.answered_within_target_share;
  const pct = share == null ? '—' : `${Math.round(share * 100)}%`;
  const shareCls = share == null ? '' : share >= 0.9 ? 'good' : share >= 0.8 ? 'warn' : 'bad';
  const waitCls = !waiting ? 'good' : 'bad';
  const longCls = longest == null ? '' : longest >= 20 ? 'bad' : longest >= 10 ? 'warn' : 'good';
  clear(box).append(
    tile('wb.waiting', waiting ?? '—', waitCls, null, 'wb-waiting'),
    tile('wb.longest', longest == null ? '—' : duration(longest), longCls, null, 'wb-longest'),
    h('div', { class: 'tile tile-wide', 'data-testid': 'wb-calltakers' },
      h('div', { class: 'tile-label' }, t('wb.calltakers')),
      h('div', { class: 'ct-row' },
        h('div', { class: 'ct free' }, h('span', { class: 'mono' }, ct.free ?? '—'), t('wb.free')),
        h('div', { class: 'ct oncall', title: (ct.on_call_accounts || []).join(', ') }, h('span', { class: 'mono' }, ct.on_call ?? '—'), t('wb.oncall')),
        h('div', { class: 'ct paused' }, h('span', { class: 'mono' }, ct.paused ?? '—'), t('wb.paused')),
      )),
    tile('wb.within10', pct, shareCls, s.offered_today != null ? t('wb.offered', { n: s.offered_today }) : null, 'wb-within'),
    tile('wb.open', s.open_tickets ?? '—', '', null, 'wb-open'),
    attentionTile(),
  );
}

function attentionTile() {
  const a = state.attention;
  const n = attention.count(a);
  const cls = n == null ? '' : (a.dead.length || a.overdueTotal) ? 'bad' : 'good';
  const sub = a ? t('wb.attention.sub', { dead: attention.count({ ...a, overdueTotal: 0 }), overdue: a.overdueTotal }) : null;
  return h('button', {
    class: `tile tile-button ${cls}${state.side === 'attention' ? ' active' : ''}`,
    type: 'button',
    'data-testid': 'wb-attention',
    'aria-pressed': state.side === 'attention' ? 'true' : 'false',
    onclick: () => { showSide('attention'); },
  },
  h('div', { class: 'tile-label' }, t('wb.attention')),
  h('div', { class: 'tile-value mono' }, n ?? '—'),
  sub ? h('div', { class: 'tile-sub' }, sub) : null);
}

function showSide(which) {
  state.side = which;
  state.selected = null;
  renderWallboard();
  renderSide();
  renderMarkers();
}

// ---- the map -----------------------------------------------------------------------------------

function ticketIcon(tk) {
  const colour = categoryColour(tk.category);
  return L.divIcon({
    className: 'marker-wrap',
    html: `<div class="marker-ticket state-${tk.state}${state.selected?.id === tk.id ? ' selected' : ''}" data-ticket-id="${tk.id}" style="--c:${colour}"><span>${tk.number || tk.id}</span></div>`,
    iconSize: [88, 30],
    iconAnchor: [44, 30],
  });
}

function unitIcon(u) {
  const label = `${String(u.agency_code || '').toUpperCase()} · ${t(`dstate.${u.state}`)}`;
  return L.divIcon({
    className: 'marker-wrap',
    html: `<div class="marker-unit dstate-${u.state}" data-dispatch-id="${u.dispatch_id}" data-state="${u.state}"><span>${escapeHtml(label)}</span></div>`,
    iconSize: [150, 26],
    iconAnchor: [12, 13],
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function renderMarkers() {
  if (!map) return;
  ticketLayer.clearLayers();
  unitLayer.clearLayers();
  const points = [];
  for (const tk of state.map.tickets || []) {
    if (tk.latitude == null || tk.longitude == null) continue;
    const m = L.marker([tk.latitude, tk.longitude], { icon: ticketIcon(tk), title: `${tk.number} ${categoryName(state.categories, tk.category)}`, riseOnHover: true });
    m.on('click', () => openTicket(tk.id));
    m.addTo(ticketLayer);
    points.push([tk.latitude, tk.longitude]);
  }
  for (const u of state.map.units || []) {
    const m = L.marker([u.latitude, u.longitude], { icon: unitIcon(u), title: `${u.agency_name} ${u.officer_name || ''}`, zIndexOffset: 500 });
    m.on('click', () => openTicket(u.ticket_id));
    m.addTo(unitLayer);
    points.push([u.latitude, u.longitude]);
  }
  if (!fitted && points.length) {
    map.invalidateSize();
    map.fitBounds(points, { padding: [60, 60], maxZoom: 15 });
    fitted = true;
  }
}

// ---- the side panel ----------------------------------------------------------------------------

function renderSide() {
  const side = document.getElementById('side');
  if (!side) return;
  clear(side);
  if (state.selected) {
    side.append(ticketPanel(state.selected));
    return;
  }
  if (state.side === 'attention') {
    side.append(attentionPanel());
    return;
  }
  const tickets = state.map.tickets || [];
  side.append(h('h3', { class: 'side-title' }, t('side.open'), h('span', { class: 'count' }, tickets.length)));
  side.append(h('p', { class: 'muted small' }, t('side.select')));
  const list = h('div', { class: 'list' });
  for (const tk of tickets) {
    list.append(h('button', { class: 'list-item', type: 'button', 'data-testid': 'open-ticket', onclick: () => openTicket(tk.id) },
      h('div', { class: 'li-top' },
        h('span', { class: 'cat-dot', style: `--c:${categoryColour(tk.category)}` }),
        h('strong', { class: 'mono' }, tk.number), stateChip(tk.state)),
      h('div', { class: 'li-sub' }, categoryName(state.categories, tk.category) || t('cat.unknown')),
      h('div', { class: 'li-meta' }, [[tk.kecamatan, tk.desa].filter(Boolean).join(', ') || tk.location_text, timeOf(tk.created_at),
        tk.latitude == null ? t('map.nocoords') : null].filter(Boolean).join(' · ')),
    ));
  }
  side.append(list);
  const units = state.map.units || [];
  if (units.length) {
    side.append(h('h3', { class: 'side-title' }, t('side.units'), h('span', { class: 'count' }, units.length)));
    for (const u of units) {
      side.append(h('div', { class: 'unit-row', 'data-testid': 'unit-row' },
        h('strong', {}, String(u.agency_code || '').toUpperCase()), dispatchChip(u.state),
        h('span', { class: 'muted' }, u.officer_name || ''), h('span', { class: 'mono muted' }, timeOf(u.at))));
    }
  }
}

function attentionPanel() {
  return h('div', { class: 'attention-pane' },
    h('button', { class: 'btn-ghost back', type: 'button', onclick: () => showSide('open') }, '← ', t('side.open')),
    h('h3', { class: 'side-title' }, t('attention.title'), h('span', { class: 'count' }, attention.count(state.attention) ?? '—')),
    attention.panel(state.attention, {
      categories: state.categories,
      onTicket: openTicket,
      onRedelivered: (m) => {
        state.attention.dead = state.attention.dead.filter((x) => x.message_id !== m.message_id);
        renderWallboard();
        renderSide();
        refreshAttention(); // its dispatch's delivery state changed too
      },
    }),
  );
}

async function openTicket(id) {
  try {
    const [ticket, dispatches] = await Promise.all([
      api.get(api.paths.ticket(id)),
      api.get(api.paths.dispatches(id)).catch(() => null),
    ]);
    if (Array.isArray(dispatches)) ticket.dispatches = dispatches;
    state.selected = ticket;
  } catch (err) {
    toast(err.message || t('error.generic'), 'error');
    return;
  }
  renderSide();
  renderMarkers();
}

function ticketPanel(tk) {
  const timeline = h('div', { 'data-testid': 'timeline' });
  renderTimeline(timeline, tk);
  return h('div', { class: 'ticket-panel', 'data-testid': 'ticket-panel' },
    h('button', { class: 'btn-ghost back', type: 'button', onclick: () => { state.selected = null; renderSide(); renderMarkers(); } }, '← ', t(state.side === 'attention' ? 'attention.title' : 'side.open')),
    h('div', { class: 'tp-head' },
      h('span', { class: 'th-number mono' }, tk.number || tk.id), stateChip(tk.state)),
    h('div', { class: 'tp-cat', style: `--c:${categoryColour(tk.category)}` }, categoryName(state.categories, tk.category) || t('cat.unknown')),
    h('dl', { class: 'facts' },
      fact(t('field.location_text'), [tk.location_text, tk.desa, tk.kecamatan].filter(Boolean).join(', ')),
      fact(t('field.reporter_name'), tk.reporter_name),
      fact(t('ticket.caller'), tk.caller_number),
      fact(t('field.victims'), tk.victims ? `${t(`victims.${tk.victims}`)}${tk.victims_count ? ` (${tk.victims_count})` : ''}` : ''),
      fact(t('field.description'), tk.description),
      fact(t('ticket.opened'), dateTime(tk.created_at)),
    ),
    (tk.dispatches || []).length ? h('div', { class: 'tp-dispatches' },
      h('h4', {}, t('dispatch.title')),
      (tk.dispatches || []).map((d) => h('div', { class: 'dispatch-row' },
        h('strong', {}, d.agency_name || String(d.agency_code || '').toUpperCase() || `#${d.agency_id}`), dispatchChip(d.state)))) : null,
    h('h4', {}, t('timeline.title')),
    timeline,
  );
}

function fact(label, value) {
  if (!value) return null;
  return [h('dt', {}, label), h('dd', {}, value)];
}
