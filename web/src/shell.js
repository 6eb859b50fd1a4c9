// The frame every console shares: the top bar (centre, view, live status, clock, language, user).
import { h, clear } from './dom.js';
import { t, toggleLanguage } from './i18n.js';
import { clock } from './time.js';
import { principal, setToken } from './api.js';

let clockTimer;

export function topbar({ view, config, extra = [], onLanguage, live = true }) {
  const who = principal();
  const clockEl = h('span', { class: 'clock', 'data-testid': 'clock' });
  const tick = () => { clockEl.textContent = `${clock()} ${t('tz')}`; };
  tick();
  clearInterval(clockTimer);
  clockTimer = setInterval(tick, 1000);
  return h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, '112'), h('span', { class: 'brand-name' }, config.centre_name || 'Siaga112')),
    h('div', { class: 'view-name' }, t(`view.${view}`)),
    h('div', { class: 'topbar-extra' }, extra),
    h('div', { class: 'topbar-right' },
      who && live ? h('span', { class: 'live', id: 'live', 'data-testid': 'live' }, t('stream.down')) : null,
      clockEl,
      h('button', { class: 'btn-ghost', type: 'button', onclick: () => { toggleLanguage(); onLanguage(); }, title: t('lang.switch') }, t('lang.switch')),
      who ? h('span', { class: 'user' }, who.username, h('small', {}, t(`role.${who.role}`))) : null,
      who ? h('button', { class: 'btn-ghost', type: 'button', onclick: logout }, t('logout')) : null,
    ),
  );
}

export function setLive(ok) {
  const el = document.getElementById('live');
  if (!el) return;
  el.textContent = ok ? t('stream.live') : t('stream.down');
  el.classList.toggle('ok', ok);
}

export function logout() {
  setToken(null);
  location.href = '/ui/login';
}

export function mount(...nodes) {
  const app = clear(document.getElementById('app'));
  app.append(...nodes);
  return app;
}
