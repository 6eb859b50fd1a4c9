// The consoles' entry point: read the page from the URL, make sure the right person is logged in.
import { h } from './dom.js';
import { initLanguage, t } from './i18n.js';
import { setZone } from './time.js';
import { principal, login, setToken, whenUnauthenticated, ApiError } from './api.js';
import { mount, topbar } from './shell.js';

// Which roles may open which view (the API enforces the same rules on every call).
export const ALLOWED = {
  console: ['calltaker', 'supervisor', 'admin'],
  supervisor: ['supervisor', 'admin'],
  agency: ['agency'],
};
const HOME = { calltaker: 'console', supervisor: 'supervisor', admin: 'supervisor', agency: 'agency' };
const VIEWS = {
  console: () => import('./views/console.js'),
  supervisor: () => import('./views/supervisor.js'),
  agency: () => import('./views/agency.js'),
};

let config = {};

function page() {
  const name = location.pathname.replace(/^\/ui\/?/, '').replace(/\/$/, '');
  return name in VIEWS ? name : 'login';
}

async function start() {
  try {
    config = await (await fetch('/ui/config.json')).json();
  } catch {
    config = {};
  }
  initLanguage(config.language || 'id');
  setZone(config.timezone);
  whenUnauthenticated(() => {
    setToken(null);
    render();
  });
  render();
}

function render() {
  const view = page();
  const who = principal();
  if (!who) return showLogin(view);
  if (view === 'login') {
    location.replace(`/ui/${HOME[who.role] || 'console'}`);
    return;
  }
  if (!ALLOWED[view].includes(who.role)) return showRefused(view, who);
  VIEWS[view]().then((mod) => mod.show({ config, rerender: render }));
}

function showLogin(view) {
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'login-error' });
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'login-card', onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await login(user.value.trim(), pass.value);
      render();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status && err.status < 500 ? t('login.failed') : t('error.network');
    }
  } },
    h('div', { class: 'login-brand' }, h('span', { class: 'brand-mark big' }, '112'), h('div', {}, h('h1', {}, config.centre_name || 'Siaga112'), h('p', {}, t('login.subtitle')))),
    view !== 'login' ? h('p', { class: 'login-view' }, t(`view.${view}`)) : null,
    h('label', { for: 'username' }, t('login.username')), user,
    h('label', { for: 'password' }, t('login.password')), pass,
    error,
    h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, t('login.submit')),
  );
  mount(topbar({ view: view === 'login' ? 'console' : view, config, onLanguage: render }), h('main', { class: 'login-page' }, form));
  document.querySelector('.view-name').textContent = t('login.title');
  user.focus();
}

function showRefused(view, who) {
  const home = HOME[who.role];
  mount(
    topbar({ view, config, onLanguage: render, live: false }),
    h('main', { class: 'login-page' },
      h('section', { class: 'login-card refused', role: 'alert', 'data-testid': 'refused' },
        h('h1', {}, t('refused.title')),
        h('p', {}, t('refused.body', { user: who.username, role: t(`role.${who.role}`), view: t(`view.${view}`) })),
        home ? h('p', {}, t('refused.hint'), ' ', h('a', { href: `/ui/${home}` }, t(`view.${home}`))) : null,
        h('button', { class: 'btn btn-block', type: 'button', onclick: () => { setToken(null); render(); } }, t('refused.other')),
      ),
    ),
  );
}

start();
