// Times arrive in UTC (ISO 8601) and are shown in the centre's zone, Asia/Jakarta by default.
import { language, t } from './i18n.js';

let zone = 'Asia/Jakarta';

export function setZone(z) {
  zone = z || zone;
}

function fmt(options) {
  return new Intl.DateTimeFormat(language() === 'en' ? 'en-GB' : 'id-ID', { timeZone: zone, hourCycle: 'h23', ...options });
}

export function clock(date = new Date()) {
  return fmt({ hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(date);
}

export function timeOf(iso) {
  if (!iso) return '';
  return fmt({ hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(iso));
}

export function dateTime(iso) {
  if (!iso) return '';
  return fmt({ day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export function today(date = new Date()) {
  return fmt({ weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(date);
}

/** "1:05" for 65 seconds; "—" for none. */
export function duration(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return t('time.ago.s', { n: Math.floor(s) });
  if (s < 3600) return t('time.ago.m', { n: Math.floor(s / 60) });
  return t('time.ago.h', { n: Math.floor(s / 3600) });
}
