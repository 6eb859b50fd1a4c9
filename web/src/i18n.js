// One dictionary per language; Bahasa Indonesia by default, English on request.
import id from './i18n/id.js';
import en from './i18n/en.js';

const DICTS = { id, en };
const KEY = 'siaga112.lang';
let current = 'id';

export function initLanguage(fallback) {
  const saved = localStorage.getItem(KEY);
  current = DICTS[saved] ? saved : (DICTS[fallback] ? fallback : 'id');
  document.documentElement.lang = current;
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!DICTS[lang]) return;
  current = lang;
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
}

export function toggleLanguage() {
  setLanguage(current === 'id' ? 'en' : 'id');
}

/** The text for ``key`` in the current language, with ``{name}`` placeholders filled. */
export function t(key, params = {}) {
  const text = DICTS[current][key] ?? DICTS.id[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}
