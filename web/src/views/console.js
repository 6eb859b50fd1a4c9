// The call taker's console: the answered call's ticket opens by itself; keyboard first.
import { h, clear, toast } from '../dom.js';
import { t } from '../i18n.js';
import { ago, dateTime, duration, timeOf } from '../time.js';
import * as api from '../api.js';
import { connect } from '../stream.js';
import { mount, setLive, topbar } from '../shell.js';
import { renderTimeline } from './timeline.js';
import { categoryName, loadCategories, stateChip } from './common.js';

const CLASSES = ['emergency', 'information', 'prank', 'ghost'];
const FIELDS = ['reporter_name', 'callback_number', 'location_text', 'kecamatan', 'desa', 'latitude', 'longitude',
  'victims', 'victims_count', 'access_route', 'category', 'description', 'priority'];
const PRIORITIES = [1, 3, 5, 7, 9];

const state = { ticket: null, categories: [], agencies: [], tickets: [], callbacks: [], tab: 'mine', waiting: null, dirty: false };
let ctx;
let stopStream;
let keysBound = false;

export async function show(context) {
  ctx = context;
  state.categories = await loadCategories();
  layout();
  refreshLists();
  refreshWaiting();
  if (stopStream) stopStream();
  stopStream = connect(onEvent, setLive);
  if (!keysBound) {
    document.addEventListener('keydown', onKey);
    keysBound = true;
  }
  setInterval(refreshWaiting, 5000);
}

function me() {
  return api.principal();
}

function layout() {
  const waiting = h('span', { class: 'chip chip-waiting', id: 'waiting', 'data-testid': 'waiting' }, '');
  mount(
    topbar({ view: 'console', config: ctx.config, extra: [waiting], onLanguage: relayout }),
    h('main', { class: 'console' },
      h('aside', { class: 'pane queue-pane' },
        h('div', { class: 'tabs', role: 'tablist' },
          h('button', { class: `tab ${state.tab === 'mine' ? 'active' : ''}`, role: 'tab', type: 'button', dataset: { tab: 'mine' }, onclick: () => switchTab('mine') }, t('queue.mine')),
          h('button', { class: `tab ${state.tab === 'callbacks' ? 'active' : ''}`, role: 'tab', type: 'button', 'data-testid': 'tab-callbacks', dataset: { tab: 'callbacks' }, onclick: () => switchTab('callbacks') }, t('queue.callbacks')),
        ),
        h('div', { id: 'list', class: 'list' }),
      ),
      h('section', { class: 'pane ticket-pane', id: 'ticket' }),
      h('aside', { class: 'pane context-pane', id: 'context' }),
    ),
    h('footer', { class: 'keys' },
      h('span', {}, t('keys.title')), h('kbd', {}, t('keys.classify')), h('kbd', {}, t('keys.save')),
      h('kbd', {}, t('keys.dispatch')), h('kbd', {}, t('keys.location')), h('kbd', {}, t('keys.next')),
    ),
  );
  renderTicket();
  renderContext();
  renderWaiting();
}

async function relayout() {
  if (state.dirty) await save({ quiet: true });
  layout();
  renderLists();
}

function switchTab(tab) {
  state.tab = tab;
  document.querySelectorAll('.tabs .tab').forEach((el) => el.classList.toggle('active', el.dataset.tab === tab));
  renderLists();
}

// ---- live events -------------------------------------------------------------------------------

function onEvent(name, data) {
  const who = me();
  if (name === 'call.answered' && who?.sip && account(data.calltaker) === who.sip && data.ticket_id) {
    openTicket(data.ticket_id, { fromCall: true });
  } else if (['ticket.updated', 'dispatch.updated', 'call.ended'].includes(name) && state.ticket && Number(data.ticket_id ?? data.id) === state.ticket.id) {
    if (!state.dirty) openTicket(state.ticket.id, { quiet: true });
    if ((data.fields || []).includes('aml')) showAml(state.ticket.id);
  }
  if (name.startsWith('ticket.') || name.startsWith('call.')) refreshLists();
  if (name.startsWith('call.') || name === 'queue.updated') refreshWaiting(name === 'queue.updated' ? data : null);
}

/** "PJSIP/ct1-0000002a" or "ct1" -> "ct1": the call taker's SIP account. */
function account(value) {
  return String(value || '').replace(/^(PJSIP|SIP|IAX2)\//i, '').replace(/-[0-9a-f]{8}$/i, '');
}

async function refreshWaiting(live) {
  try {
    state.waiting = live && typeof live.waiting === 'number' ? live.waiting : (await api.get(api.paths.wallboard)).waiting;
  } catch { /* the chip simply keeps its last value */ }
  renderWaiting();
}

function renderWaiting() {
  const el = document.getElementById('waiting');
  if (!el) return;
  el.textContent = state.waiting == null ? '' : t('queue.waiting', { n: state.waiting });
  el.classList.toggle('alert', state.waiting > 0);
}

// ---- the lists on the left ---------------------------------------------------------------------

const RECENT_KEY = 'siaga112.recent';

/** Tickets this call taker opened in this tab (kept across a reload), newest first. */
function recent() {
  try { return JSON.parse(sessionStorage.getItem(RECENT_KEY)) || []; } catch { return []; }
}

function remember(tk) {
  const keep = ['id', 'number', 'state', 'category', 'caller_number', 'created_at'];
  const item = Object.fromEntries(keep.map((k) => [k, tk[k]]));
  const list = [item, ...recent().filter((x) => x.id !== tk.id)].slice(0, 30);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(list));
}

async function refreshLists() {
  const who = me();
  let assigned = [];
  try {
    const params = new URLSearchParams({ assigned_to: who?.sip || who?.username || '', limit: '50' });
    assigned = api.items(await api.get(`${api.paths.tickets}?${params}`));
  } catch { /* the tickets opened here are still listed */ }
  const byId = new Map([...recent(), ...assigned].map((tk) => [tk.id, tk]));
  state.tickets = [...byId.values()]
    .filter((tk) => !['closed', 'cancelled'].includes(tk.state))
    .sort((a, b) => b.id - a.id);
  try {
    state.callbacks = api.items(await api.get(api.paths.callbacks));
  } catch { state.callbacks = []; }
  renderLists();
}

function renderLists() {
  const list = document.getElementById('list');
  if (!list) return;
  clear(list);
  if (state.tab === 'mine') {
    if (!state.tickets.length) list.append(h('p', { class: 'muted pad' }, t('queue.empty')));
    for (const tk of state.tickets) {
      const active = state.ticket?.id === tk.id;
      list.append(h('button', { class: `list-item ${active ? 'active' : ''}`, type: 'button', 'data-testid': 'ticket-item', onclick: () => openTicket(tk.id) },
        h('div', { class: 'li-top' }, h('strong', { class: 'mono' }, number(tk)), stateChip(tk.state)),
        h('div', { class: 'li-sub' }, categoryName(state.categories, tk.category) || tk.caller_number || t('ticket.unknown_number')),
        h('div', { class: 'li-meta' }, timeOf(tk.created_at)),
      ));
    }
  } else {
    if (!state.callbacks.length) list.append(h('p', { class: 'muted pad' }, t('queue.callbacks.empty')));
    for (const cb of state.callbacks) {
      list.append(h('button', { class: 'list-item', type: 'button', 'data-testid': 'callback-item', onclick: () => cb.ticket_id && openTicket(cb.ticket_id) },
        h('div', { class: 'li-top' }, h('strong', { class: 'mono' }, cb.caller_number || '—'), h('span', { class: 'li-meta' }, ago(cb.arrived_at))),
        h('div', { class: 'li-sub' }, t(`outcome.${cb.outcome}`), cb.missed_calls > 1 ? ` · ${t('callbacks.missed', { n: cb.missed_calls })}` : ''),
        h('div', { class: 'li-meta' }, timeOf(cb.arrived_at), cb.ticket_number ? ` · ${cb.ticket_number}` : ''),
      ));
    }
  }
}

function number(tk) {
  return tk.number || `T${String(tk.id).padStart(6, '0')}`;
}

// ---- the ticket --------------------------------------------------------------------------------

async function openTicket(id, { fromCall = false, quiet = false } = {}) {
  if (state.dirty && state.ticket && state.ticket.id !== Number(id)) await save({ quiet: true });
  try {
    state.ticket = await loadTicket(id);
    remember(state.ticket);
  } catch (err) {
    toast(err.message || t('error.generic'), 'error');
    return;
  }
  state.dirty = false;
  if (!quiet) {
    renderTicket();
    renderContext();
    refreshLists();
  } else {
    renderContextOnly();
  }
  if (fromCall) {
    document.getElementById('ticket')?.classList.add('flash');
    document.getElementById('f-reporter_name')?.focus();
  }
}

/** The ticket's full view, with its dispatches and their delivery state. */
export async function loadTicket(id) {
  const [ticket, dispatches] = await Promise.all([
    api.get(api.paths.ticket(id)),
    api.get(api.paths.dispatches(id)).catch(() => null),
  ]);
  if (Array.isArray(dispatches)) ticket.dispatches = dispatches;
  return ticket;
}

let renders = 0;

function renderTicket() {
  const pane = document.getElementById('ticket');
  if (!pane) return;
  clear(pane);
  pane.dataset.render = String(++renders); // tests wait for a fresh render
  const tk = state.ticket;
  if (!tk) {
    const who = me();
    pane.append(h('div', { class: 'idle', 'data-testid': 'idle' },
      h('div', { class: 'idle-ring' }, h('span', {}, '112')),
      h('h2', {}, t('wait.title')),
      h('p', {}, who?.sip ? t('wait.body', { sip: who.sip }) : t('wait.nosip')),
    ));
    return;
  }
  const call = (tk.calls || [])[0] || {};
  pane.append(
    h('div', { class: 'ticket-head', 'data-testid': 'ticket-head', dataset: { ticketId: tk.id } },
      h('div', { class: 'th-id' },
        h('span', { class: 'th-number mono', 'data-testid': 'ticket-number' }, number(tk)),
        stateChip(tk.state),
      ),
      h('div', { class: 'th-caller' },
        h('span', { class: 'label' }, t('ticket.caller')),
        h('span', { class: 'th-phone mono', 'data-testid': 'caller-number' }, tk.caller_number || call.caller_number || t('ticket.unknown_number')),
      ),
      h('div', { class: 'th-time' }, h('span', { class: 'label' }, t('ticket.opened')), h('span', { class: 'mono' }, dateTime(tk.created_at))),
    ),
    classBar(tk),
    ticketForm(tk),
    ...dispatchBox(tk),
  );
}

function classBar(tk) {
  return h('div', { class: 'class-bar', role: 'group', 'aria-label': t('class.title') },
    CLASSES.map((c, i) => h('button', {
      class: `class-btn class-${c} ${tk.classification === c ? 'selected' : ''}`,
      type: 'button', 'data-testid': `class-${c}`, 'aria-pressed': String(tk.classification === c),
      onclick: () => classify(c),
    }, h('kbd', {}, `Alt+${i + 1}`), t(`class.${c}`))),
  );
}

function field(name, label, input, cls = '') {
  input.id = `f-${name}`;
  input.name = name;
  input.addEventListener('input', () => { state.dirty = true; });
  return h('div', { class: `field ${cls}` }, h('label', { for: input.id }, label), input);
}

function ticketForm(tk) {
  const val = (k) => (tk[k] == null ? '' : String(tk[k]));
  const victims = h('div', { class: 'segmented', role: 'radiogroup' },
    ['none', 'count', 'unknown'].map((v) => h('label', { class: 'seg' },
      h('input', { type: 'radio', name: 'victims', value: v, checked: tk.victims === v, onchange: () => { state.dirty = true; syncVictims(); } }),
      h('span', {}, t(`victims.${v}`)))),
  );
  const category = h('select', { onchange: () => { state.dirty = true; renderSuggestions(); } },
    h('option', { value: '' }, t('field.category.choose')),
    state.categories.map((c) => h('option', { value: c.code, selected: tk.category === c.code }, categoryName(state.categories, c.code))));
  const priority = h('select', {}, PRIORITIES.map((p) => h('option', { value: String(p), selected: Number(tk.priority) === p }, t(`priority.${p}`))));
  if (!PRIORITIES.includes(Number(tk.priority)) && tk.priority != null) priority.append(h('option', { value: String(tk.priority), selected: true }, String(tk.priority)));
  const form = h('form', { class: 'ticket-form', id: 'ticket-form', onsubmit: (e) => { e.preventDefault(); save(); } },
    field('reporter_name', t('field.reporter_name'), h('input', { value: val('reporter_name'), autocomplete: 'off' }), 's2'),
    field('callback_number', t('field.callback_number'), h('input', { value: val('callback_number') || val('caller_number'), type: 'tel', autocomplete: 'off' }), 's2'),
    field('category', t('field.category'), category, 's2'),
    field('location_text', t('field.location_text'), h('textarea', { rows: 2, placeholder: t('field.location_hint') }, val('location_text')), 's4'),
    field('priority', t('field.priority'), priority, 's2'),
    field('kecamatan', t('field.kecamatan'), h('input', { value: val('kecamatan'), autocomplete: 'off' }), 's2'),
    field('desa', t('field.desa'), h('input', { value: val('desa'), autocomplete: 'off' }), 's2'),
    field('latitude', t('field.latitude'), h('input', { value: val('latitude'), inputmode: 'decimal', placeholder: '-3.39' }), 's1'),
    field('longitude', t('field.longitude'), h('input', { value: val('longitude'), inputmode: 'decimal', placeholder: '104.83' }), 's1'),
    renderAml(h('div', { class: 'field s6 aml-line', id: 'aml-line', 'data-testid': 'aml' }), tk),
    h('div', { class: 'field s3' }, h('span', { class: 'label' }, t('field.victims')), victims),
    field('victims_count', t('field.victims_count'), h('input', { value: val('victims_count'), type: 'number', min: 0, max: 10000 }), 's1'),
    field('access_route', t('field.access_route'), h('input', { value: val('access_route'), autocomplete: 'off' }), 's2'),
    field('description', t('field.description'), h('textarea', { rows: 2 }, val('description')), 's6'),
  );
  setTimeout(syncVictims, 0);
  return form;
}

// ---- the phone's own position (Advanced Mobile Location) ---------------------------------------

/** "Lokasi AML: lat, lon (±52 m, GPS, 68%) · time", with a copy into empty latitude/longitude. */
function renderAml(box, tk) {
  clear(box);
  const a = tk.aml;
  box.style.display = a ? '' : 'none';
  if (!a) return box;
  const details = [
    a.radius_m != null ? t('aml.radius', { m: Math.round(a.radius_m) }) : null,
    a.method ? t(`aml.method.${a.method.toLowerCase()}`) : null,
    a.confidence != null ? `${a.confidence}%` : null,
  ].filter(Boolean).join(', ');
  const input = (name) => document.getElementById(`f-${name}`);
  const copy = () => {
    if (input('latitude').value.trim() || input('longitude').value.trim()) return;
    input('latitude').value = String(a.latitude);
    input('longitude').value = String(a.longitude);
    state.dirty = true;
  };
  box.append(h('span', { class: 'mono' }, t('aml.line', { lat: a.latitude, lon: a.longitude, details }), ' · ', timeOf(a.positioned_at || a.received_at)));
  if (tk.latitude == null && tk.longitude == null) {
    box.append(h('button', { type: 'button', class: 'btn', 'data-testid': 'aml-copy', onclick: copy }, t('aml.copy')));
  }
  return box;
}

/** A position came for the open ticket: show it, and put coordinates it filled into empty inputs
 * (a save of the form as it stood would otherwise clear them). */
async function showAml(id) {
  let fresh;
  try { fresh = await api.get(api.paths.ticket(id)); } catch { return; }
  if (state.ticket?.id !== fresh.id) return;
  Object.assign(state.ticket, { aml: fresh.aml, latitude: fresh.latitude, longitude: fresh.longitude });
  for (const name of ['latitude', 'longitude']) {
    const el = document.getElementById(`f-${name}`);
    if (el && !el.value.trim() && fresh[name] != null) el.value = String(fresh[name]);
  }
  const box = document.getElementById('aml-line');
  if (box) renderAml(box, state.ticket);
}

function syncVictims() {
  const checked = document.querySelector('input[name="victims"]:checked');
  const count = document.getElementById('f-victims_count');
  if (count) count.disabled = checked?.value !== 'count';
}

function formValues() {
  const form = document.getElementById('ticket-form');
  if (!form) return {};
  const data = {};
  for (const name of FIELDS) {
    if (name === 'victims') {
      data.victims = form.querySelector('input[name="victims"]:checked')?.value || null;
      continue;
    }
    const el = form.elements[name];
    if (!el) continue;
    const v = el.value.trim();
    if (['latitude', 'longitude'].includes(name)) data[name] = v === '' ? null : Number(v.replace(',', '.'));
    else if (name === 'victims_count') data[name] = data.victims === 'count' && v !== '' ? Number(v) : null;
    else if (name === 'priority') data[name] = Number(v);
    else data[name] = v === '' ? null : v;
  }
  return data;
}

async function save({ quiet = false } = {}) {
  const tk = state.ticket;
  if (!tk) return false;
  const mark = document.getElementById('save-state');
  if (mark) mark.textContent = t('saving');
  clearFieldErrors();
  try {
    state.ticket = { ...tk, ...(await api.patch(api.paths.ticket(tk.id), formValues())) };
    state.dirty = false;
    if (mark) mark.textContent = `${t('saved')} ${timeOf(new Date().toISOString())}`;
    if (!quiet) toast(t('saved'), 'ok');
    renderContextOnly();
    return true;
  } catch (err) {
    if (mark) mark.textContent = '';
    showFieldErrors(err);
    toast(err.message || t('error.generic'), 'error');
    return false;
  }
}

function clearFieldErrors() {
  document.querySelectorAll('.field.invalid').forEach((el) => el.classList.remove('invalid'));
}

function showFieldErrors(err) {
  for (const f of err?.details?.fields || []) {
    const name = String(f.field || '').split('.').pop();
    document.getElementById(`f-${name}`)?.closest('.field')?.classList.add('invalid');
  }
}

async function classify(classification) {
  const tk = state.ticket;
  if (!tk) return;
  if (state.dirty) await save({ quiet: true });
  try {
    const result = await api.post(api.paths.classify(tk.id), { classification });
    state.ticket = { ...state.ticket, ...(result || {}), classification };
    toast(t(`class.${classification}`), 'ok');
    await openTicket(tk.id);
  } catch (err) {
    toast(err.message || t('error.generic'), 'error');
  }
}

// ---- dispatch ----------------------------------------------------------------------------------

function dispatchBox(tk) {
  return [
    h('section', { class: 'dispatch-bar', 'aria-label': t('dispatch.title') },
      h('div', { class: 'dispatch-agencies' },
        h('span', { class: 'label' }, t('dispatch.suggested')),
        h('div', { class: 'agency-chips', id: 'agency-chips' }),
        h('div', { class: 'dispatch-list', id: 'dispatch-list' }),
      ),
      h('div', { class: 'dispatch-buttons' },
        h('span', { class: 'save-state', id: 'save-state' }),
        h('button', { class: 'btn btn-big', type: 'button', 'data-testid': 'save', onclick: () => save() }, h('kbd', {}, 'Ctrl+S'), t('action.save')),
        h('button', { class: 'btn btn-primary btn-big', type: 'button', 'data-testid': 'dispatch', onclick: doDispatch }, h('kbd', {}, 'Ctrl+Enter'), t('action.dispatch')),
      ),
      (tk && renderSuggestionsLater()),
    ),
  ];
}

function renderSuggestionsLater() {
  setTimeout(renderSuggestions, 0);
  return null;
}

/** Agencies for the chosen category: [{id, code, name, suggested, dispatched}], suggested first. */
async function agencyChoices(tk, category) {
  if (tk.category === category) {
    // the server's suggestion for the saved category
    try {
      const result = api.items(await api.get(api.paths.suggested(tk.id)))
        .map((x) => (x.agency ? { ...x.agency, suggested: x.suggested, dispatched: x.dispatched } : x));
      if (result.length) return result;
    } catch { /* fall back to the categories list */ }
  }
  if (!state.agencies.length) {
    try { state.agencies = api.items(await api.get(api.paths.agencies)); } catch { state.agencies = []; }
  }
  const codes = state.categories.find((c) => c.code === category)?.agencies || [];
  return state.agencies.filter((a) => a.active !== false)
    .map((a) => ({ ...a, suggested: codes.includes(a.code) || (a.categories || []).includes(category) }))
    .sort((a, b) => Number(b.suggested) - Number(a.suggested));
}

function agencyChip(a, checked) {
  return h('label', { class: 'agency-chip', title: a.name },
    h('input', { type: 'checkbox', value: String(a.id), checked, 'data-code': a.code }),
    h('span', { class: 'ac-code' }, (a.code || '').toUpperCase()),
    h('span', { class: 'ac-name' }, a.name));
}

async function renderSuggestions() {
  const tk = state.ticket;
  const box = document.getElementById('agency-chips');
  if (!tk || !box) return;
  const category = document.getElementById('f-category')?.value || tk.category;
  const already = new Set((tk.dispatches || []).map((d) => Number(d.agency_id)));
  const choices = (category ? await agencyChoices(tk, category) : [])
    .filter((a) => !a.dispatched && !already.has(Number(a.id)));
  clear(box);
  const suggested = choices.filter((a) => a.suggested !== false);
  const others = choices.filter((a) => a.suggested === false);
  if (!suggested.length && !(tk.dispatches || []).length) box.append(h('span', { class: 'muted' }, t('dispatch.none')));
  for (const a of suggested) box.append(agencyChip(a, true));
  if (others.length) {
    const more = h('div', { class: 'more-agencies', hidden: true }, others.map((a) => agencyChip(a, false)));
    box.append(h('button', { class: 'btn-ghost', type: 'button', 'data-testid': 'more-agencies', onclick: (e) => { more.hidden = !more.hidden; e.currentTarget.remove(); } }, t('dispatch.more')), more);
  }
  renderDispatches();
}

function renderDispatches() {
  const list = document.getElementById('dispatch-list');
  const tk = state.ticket;
  if (!list || !tk) return;
  clear(list);
  for (const d of tk.dispatches || []) {
    document.querySelector(`#agency-chips input[value="${d.agency_id}"]`)?.closest('label')?.remove();
    list.append(h('div', { class: 'dispatch-row', 'data-testid': 'dispatch-row', title: d.agency_name || '' },
      h('strong', { class: 'ac-code' }, String(d.agency_code || d.agency_name || `#${d.agency_id}`).toUpperCase()),
      h('span', { class: `chip dstate-${d.state}` }, t(`dstate.${d.state}`)),
      d.delivery_state ? h('span', { class: `delivery delivery-${d.delivery_state}` }, t(`delivery.${d.delivery_state}`)) : null,
    ));
  }
}

async function doDispatch() {
  const tk = state.ticket;
  if (!tk) return;
  const ids = [...document.querySelectorAll('#agency-chips input:checked:not(:disabled)')].map((el) => Number(el.value));
  if (!ids.length) {
    toast(t('dispatch.choose'), 'error');
    return;
  }
  if (!(await save({ quiet: true }))) return;
  try {
    await api.post(api.paths.dispatch(tk.id), { agency_ids: ids });
    const names = [...document.querySelectorAll('#agency-chips input:checked:not(:disabled)')].map((el) => el.dataset.code.toUpperCase());
    toast(t('dispatch.done', { agencies: names.join(', ') }), 'ok');
    await openTicket(tk.id);
  } catch (err) {
    toast(err.message || t('error.generic'), 'error');
  }
}

// ---- the right-hand side: history, recording, timeline ------------------------------------------

function renderContext() {
  const pane = document.getElementById('context');
  if (!pane) return;
  clear(pane);
  const tk = state.ticket;
  if (!tk) return;
  pane.append(
    h('section', { class: 'card' }, h('h3', {}, t('history.title')), h('div', { id: 'history', 'data-testid': 'history' }, h('p', { class: 'muted' }, '…'))),
    h('section', { class: 'card' }, h('h3', {}, t('recording.title')), h('div', { id: 'recording' })),
    h('section', { class: 'card grow' }, h('h3', {}, t('timeline.title')), h('div', { id: 'timeline', 'data-testid': 'timeline' })),
  );
  renderHistory(tk);
  renderRecording(tk);
  renderTimeline(document.getElementById('timeline'), tk, state.categories);
}

function recordedCalls(tk) {
  return (tk.calls || []).filter((c) => c.recording_url || c.has_recording);
}

function renderContextOnly() {
  const tk = state.ticket;
  const box = document.getElementById('recording');
  if (tk && box && Number(box.dataset.count || 0) !== recordedCalls(tk).length) renderRecording(tk);
  const tl = document.getElementById('timeline');
  if (tk && tl) renderTimeline(tl, tk, state.categories);
  renderDispatches();
  const head = document.querySelector('.ticket-head .chip');
  if (head && tk) head.replaceWith(stateChip(tk.state));
}

async function renderHistory(tk) {
  const box = document.getElementById('history');
  const numberValue = tk.caller_number;
  if (!box) return;
  if (!numberValue) {
    clear(box).append(h('p', { class: 'muted' }, t('ticket.unknown_number')));
    return;
  }
  let data = null;
  try {
    data = await api.get(api.paths.callerHistory(numberValue));
  } catch {
    data = tk.caller_history || null;
  }
  clear(box);
  if (data?.policy?.flagged) box.append(h('p', { class: 'flag', 'data-testid': 'prank-flag' }, t('history.flagged')));
  for (const f of data?.flags || []) box.append(h('p', { class: 'flag' }, t('history.flag', { kind: f.reason || f.kind || '' })));
  // the other calls of this number (this ticket's own call is not history)
  const others = (data?.calls || []).filter((c) => Number(c.ticket_id) !== tk.id);
  if (!others.length) {
    box.append(h('p', { class: 'muted' }, t('history.empty', { h: data?.window_hours || 24 })));
    return;
  }
  box.append(h('p', { class: 'flag-soft' }, t('history.recent', { n: others.length, h: data.window_hours || 24 })));
  for (const c of others.slice(0, 8)) {
    const cls = c.classification || 'unclassified';
    box.append(h('button', { class: 'hist-row', type: 'button', onclick: () => c.ticket_id && openTicket(c.ticket_id) },
      h('span', { class: 'mono' }, dateTime(c.arrived_at || c.created_at)),
      h('span', { class: `chip class-chip class-${cls}` }, t(`class.${cls}`)),
      h('span', { class: 'muted' }, c.ticket_number || ''),
    ));
  }
}

function renderRecording(tk) {
  const box = document.getElementById('recording');
  if (!box) return;
  clear(box);
  const calls = recordedCalls(tk);
  box.dataset.count = String(calls.length);
  if (!calls.length) {
    box.append(h('p', { class: 'muted' }, t('recording.none')));
    return;
  }
  for (const c of calls) {
    const player = h('div', { class: 'player' });
    const btn = h('button', { class: 'btn', type: 'button', 'data-testid': 'play-recording', onclick: async () => {
      btn.disabled = true;
      try {
        const url = await api.blobUrl(c.recording_url || api.paths.recording(c.id));
        const audio = h('audio', { controls: true, src: url, autoplay: true });
        clear(player).append(audio);
      } catch {
        clear(player).append(h('p', { class: 'muted' }, t('recording.failed')));
        btn.disabled = false;
      }
    } }, `▶ ${t('recording.play')}`, c.recording_seconds ? ` (${duration(c.recording_seconds)})` : '');
    box.append(btn, player);
  }
}

// ---- keyboard ----------------------------------------------------------------------------------

function onKey(e) {
  if (!document.querySelector('.console')) return;
  if (e.altKey && !e.ctrlKey && ['1', '2', '3', '4'].includes(e.key)) {
    e.preventDefault();
    classify(CLASSES[Number(e.key) - 1]);
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
    e.preventDefault();
    save();
  } else if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
    e.preventDefault();
    doDispatch();
  } else if (e.altKey && e.key.toLowerCase() === 'l') {
    e.preventDefault();
    document.getElementById('f-location_text')?.focus();
  } else if (e.altKey && e.key.toLowerCase() === 'n') {
    e.preventDefault();
    const idx = state.tickets.findIndex((tk) => tk.id === state.ticket?.id);
    const next = state.tickets[(idx + 1) % Math.max(1, state.tickets.length)];
    if (next) openTicket(next.id);
  }
}
