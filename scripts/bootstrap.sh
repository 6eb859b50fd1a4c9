#!/usr/bin/env bash
# Installs what Siaga112 needs on a Debian 12 host, idempotently: Debian packages, the Python venv,
# and the Asterisk root (Debian's asterisk in a chroot). Sourced by scripts/run and scripts/test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIAGA_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

need_debs=()
for pair in debootstrap:/usr/sbin/debootstrap sip-tester:/usr/bin/sipp \
            postgresql:/usr/lib/postgresql espeak-ng:/usr/bin/espeak-ng sox:/usr/bin/sox \
            iproute2:/usr/sbin/ip chromium:/usr/bin/chromium npm:/usr/bin/npm; do
  pkg="${pair%%:*}"; path="${pair#*:}"
  [ -e "$path" ] || need_debs+=("$pkg")
done
if [ "${#need_debs[@]}" -gt 0 ]; then
  echo "siaga112: installing Debian packages: ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need_debs[@]}" >/dev/null
  # Debian starts its own cluster on 5432; Siaga112 runs its own, so keep the system one stopped.
  if command -v pg_ctlcluster >/dev/null; then pg_ctlcluster --skip-systemctl-redirect 15 main stop 2>/dev/null || true; fi
fi

stamp="$VENV/.siaga112-installed"
if [ ! -x "$VENV/bin/python" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "siaga112: preparing the Python environment in $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  "$VENV/bin/pip" install -q -e "$ROOT[dev]" 2>&1 | grep -v '^WARNING' || true
  "$VENV/bin/python" -c "import panoramisk, asyncpg, fastapi, sqlalchemy" 
  touch "$stamp"
fi

# The consoles' scripts, styles and fonts (Leaflet, fonts) come from npm at build time and are
# served by Siaga112 itself: the centre's network needs no internet and no CDN.
if [ ! -d "$ROOT/web/node_modules/leaflet" ] || \
   [ "$ROOT/web/package-lock.json" -nt "$ROOT/web/node_modules/.package-lock.json" ]; then
  echo "siaga112: installing the consoles' npm packages"
  (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
fi

"$VENV/bin/python" -m ops.asterisk ensure-root
