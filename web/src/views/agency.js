// The agency's view, for agencies without a system of their own: made for a phone in the field.
import { h, clear, toast } from '../dom.js';
import { t } from '../i18n.js';
import { ago, dateTime, timeOf } from '../time.js';
import * as api from '../api.js';
import { mount, setLive, topbar } from '../shell.js';
import { connect } from '../stream.js';
import { categoryColour, categoryName, dispatchChip, loadCategories } from './common.js';

const OFFICER_KEY = 'siaga112.officer';
// The next steps an agency may post from each state of its dispatch.
const NEXT = {
  pending: ['acknowledge'],
  acknowledged: ['en_route', 'on_scene'],
  en_route: ['on_scene', 'resolved'],
  on_scene: ['resolved'],
  resolved: ['close'],
};

const state = { dispatches: [], categories: [], busy: false, agencyName: '' };
let ctx;
let pollTimer;

export async function show(context) {
  ctx = context;
  state.categories = await loadCategories();
  layout();
  await refresh();
  clearInterval(pollTimer);
  // the stream brings this agency's own dispatch updates; polling catches new dispatches too
  connect(() => { if (!state.busy) refresh(); }, () => {});
  pollTimer = setInterval(() => { if (!state.busy) refresh(); }, 10000);
}

function officer() {
  try { return JSON.parse(localStorage.getItem(OFFICER_KEY)) || {}; } catch { return {}; }
}

function layout() {
  const who = officer();
  const name = h('input', { id: 'officer-name', value: who.name || '', autocomplete: 'name', onchange: saveOfficer });
  const oid = h('input', { id: 'officer-id', value: who.id || '', autocomplete: 'off', onchange: saveOfficer });
  mount(
    topbar({ view: 'agency', config: ctx.config, onLanguage: () => { layout(); render(); } }),
    h('main', { class: 'agency' },
      h('section', { class: 'officer card' },
        h('div', { class: 'field' }, h('label', { for: 'officer-name' }, t('agency.officer')), name),
        h('div', { class: 'field' }, h('label', { for: 'officer-id' }, t('agency.officer_id')), oid),
      ),
      h('h2', { class: 'agency-title', id: 'agency-title' }),
      h('div', { id: 'dispatches', class: 'dispatch-cards' }),
    ),
  );
}

function saveOfficer() {
  localStorage.setItem(OFFICER_KEY, JSON.stringify({
    name: document.getElementById('officer-name')?.value.trim() || '',
    id: document.getElementById('officer-id')?.value.trim() || '',
  }));
}

async function refresh() {
  try {
    state.dispatches = api.items(await api.get(api.paths.agencyDispatches))
      .filter((d) => !['closed', 'cancelled'].includes(d.state));
    setLive(true);
  } catch (err) {
    setLive(false);
    if (err.status !== 401) toast(t('error.network'), 'error');
    return;
  }
  render();
}

function ticketOf(d) {
  return d.ticket || d;
}

function render() {
  const box = document.getElementById('dispatches');
  if (!box) return;
  const first = state.dispatches[0];
  const agencyName = first?.agency_name || first?.agency?.name || api.principal()?.username || '';
  document.getElementById('agency-title').textContent = t('agency.mine', { agency: agencyName });
  clear(box);
  if (!state.dispatches.length) box.append(h('p', { class: 'muted pad center' }, t('agency.empty')));
  for (const d of state.dispatches) box.append(card(d));
}

function card(d) {
  const tk = ticketOf(d);
  const number = d.ticket_number || tk.number || `T${String(d.ticket_id).padStart(6, '0')}`;
  const note = h('textarea', { rows: 2, class: 'note', placeholder: t('agency.note'), 'aria-label': t('agency.note') });
  const steps = NEXT[d.state] || [];
  const coords = tk.latitude != null && tk.longitude != null ? `${Number(tk.latitude).toFixed(5)}, ${Number(tk.longitude).toFixed(5)}` : '';
  const actions = h('div', { class: 'card-actions' });
  for (const step of steps) {
    if (step === 'close') {
      const report = h('textarea', { rows: 3, class: 'report', placeholder: t('agency.report'), 'aria-label': t('agency.report'), 'data-testid': 'report' });
      actions.append(report, h('button', { class: 'btn btn-primary btn-big', type: 'button', 'data-testid': 'action-close', onclick: () => close(d, report.value) }, t('agency.send_report')));
    } else if (step === 'acknowledge') {
      actions.append(h('button', { class: 'btn btn-primary btn-big', type: 'button', 'data-testid': 'action-acknowledge', onclick: () => acknowledge(d) }, t('agency.ack')));
    } else {
      actions.append(h('button', { class: `btn btn-big step-${step}`, type: 'button', 'data-testid': `action-${step}`, onclick: () => postStatus(d, step, note.value) }, t(`agency.${step}`)));
    }
  }
  return h('article', { class: 'dispatch-card', 'data-testid': 'dispatch-card', dataset: { dispatchId: d.id, state: d.state }, style: `--c:${categoryColour(tk.category)}` },
    h('header', { class: 'dc-head' },
      h('div', {}, h('div', { class: 'dc-cat' }, categoryName(state.categories, tk.category) || t('cat.unknown')), h('div', { class: 'mono dc-number' }, number)),
      dispatchChip(d.state),
    ),
    h('p', { class: 'dc-location' }, [tk.location_text, tk.desa, tk.kecamatan].filter(Boolean).join(', ') || '—'),
    coords ? h('p', { class: 'mono muted small' }, coords, h('a', { class: 'geo-link', href: `geo:${tk.latitude},${tk.longitude}` }, t('agency.navigate'))) : null,
    tk.description ? h('p', { class: 'dc-desc' }, tk.description) : null,
    h('dl', { class: 'facts' },
      tk.victims ? [h('dt', {}, t('agency.victims')), h('dd', {}, `${t(`victims.${tk.victims}`)}${tk.victims_count ? ` (${tk.victims_count})` : ''}`)] : null,
      tk.access_route ? [h('dt', {}, t('agency.access')), h('dd', {}, tk.access_route)] : null,
      tk.reporter_name || tk.callback_number ? [h('dt', {}, t('agency.reporter')), h('dd', {}, [tk.reporter_name, tk.callback_number].filter(Boolean).join(' · '))] : null,
      [h('dt', {}, t('agency.dispatched_at')), h('dd', {}, `${dateTime(d.created_at)} (${ago(d.created_at)})`)],
    ),
    steps.length && steps[0] !== 'acknowledge' && steps[0] !== 'close' ? note : null,
    actions,
    h('p', { class: 'muted small position', 'data-testid': 'position' }, lastPosition(d)),
  );
}

function lastPosition(d) {
  const last = [...(d.updates || [])].reverse().find((u) => u.latitude != null && u.longitude != null);
  if (!last) return '';
  return `${t('agency.position', { lat: Number(last.latitude).toFixed(5), lon: Number(last.longitude).toFixed(5) })} · ${t(`dstate.${last.state}`)} ${timeOf(last.at)}`;
}

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude, accuracy: p.coords.accuracy }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 8000, maximumAge: 30000 },
    );
  });
}

async function run(fn) {
  state.busy = true;
  try {
    await fn();
    toast(t('agency.sent'), 'ok');
  } catch (err) {
    toast(err.message || t('error.generic'), 'error');
  } finally {
    state.busy = false;
    await refresh();
  }
}

function acknowledge(d) {
  return run(() => api.post(api.paths.agencyAck(d.id), officerFields()));
}

function officerFields() {
  saveOfficer();
  const o = officer();
  return { officer_name: o.name || null, officer_id: o.id || null };
}

async function postStatus(d, step, note) {
  const cardEl = document.querySelector(`[data-dispatch-id="${d.id}"] .position`);
  if (cardEl) cardEl.textContent = t('agency.locating');
  const pos = await position();
  if (cardEl) cardEl.textContent = pos ? t('agency.position', { lat: pos.latitude.toFixed(5), lon: pos.longitude.toFixed(5) }) : t('agency.noposition');
  return run(() => api.post(api.paths.agencyStatus(d.id), {
    state: step,
    note: note?.trim() || null,
    ...officerFields(),
    latitude: pos?.latitude ?? null,
    longitude: pos?.longitude ?? null,
  }));
}

function close(d, report) {
  return run(() => api.post(api.paths.agencyClose(d.id), { report: report.trim(), ...officerFields() }));
}
