// Small pieces the views share: categories, state chips.
import { h } from '../dom.js';
import { language, t } from '../i18n.js';
import * as api from '../api.js';

let categoriesCache = null;

export async function loadCategories() {
  if (categoriesCache) return categoriesCache;
  try {
    categoriesCache = api.items(await api.get(api.paths.categories));
  } catch {
    categoriesCache = [];
  }
  return categoriesCache;
}

export function categoryName(categories, code) {
  if (!code) return '';
  const c = categories.find((x) => x.code === code);
  if (!c) return code;
  return (language() === 'en' ? c.name_en : c.name_id) || c.name || code;
}

export function stateChip(state) {
  return h('span', { class: `chip state-${state}`, 'data-testid': 'state-chip' }, t(`state.${state}`));
}

export function dispatchChip(state) {
  return h('span', { class: `chip dstate-${state}`, 'data-testid': 'dispatch-state' }, t(`dstate.${state}`));
}

// Category colours on the map and in lists: distinct, readable on dark and light.
export const CATEGORY_COLOURS = {
  FIRE: '#ff5a36', RESCUE: '#ff9f1c', MEDICAL: '#ff4d8d', TRAFFIC: '#ffd23f', DISASTER: '#b388ff',
  CRIME: '#4dabf7', PUBLIC_ORDER: '#74c0fc', SOCIAL: '#63e6be', NARCOTICS: '#e599f7',
  WOMEN_CHILDREN: '#f783ac', ENVIRONMENT: '#69db7c', INFORMATION: '#adb5bd', OTHER: '#ced4da',
};

export function categoryColour(code) {
  return CATEGORY_COLOURS[code] || '#e9ecef';
}
