# The Siaga112 gateway (FastAGI + AMI) and HTTP API, for a host where Asterisk runs outside the
# container (settings: SIAGA_ASTERISK__MODE=host). Same install steps as the README: Debian 12,
# Python's venv, the project installed in it with pip (editable, as scripts/bootstrap.sh does:
# ops/ finds asterisk_conf/ beside it).
FROM debian:12-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    SIAGA_ASTERISK__MODE=host \
    SIAGA_STATE_DIR=/var/lib/siaga112

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tzdata npm \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/siaga112 --create-home siaga

WORKDIR /opt/siaga112
COPY pyproject.toml README.md ./
COPY core ./core
COPY models ./models
COPY services ./services
COPY gateway ./gateway
COPY api ./api
COPY agi_scripts ./agi_scripts
COPY ops ./ops
COPY asterisk_conf ./asterisk_conf
COPY web ./web
# the consoles' scripts, styles and fonts come from the npm registry at build time, never a CDN
RUN cd web && npm ci --omit=dev --no-audit --no-fund && rm -rf /root/.npm
RUN python3 -m venv /opt/siaga112/.venv \
 && /opt/siaga112/.venv/bin/pip install --no-cache-dir -e /opt/siaga112

USER siaga
# FastAGI (from Asterisk) and the HTTP API
EXPOSE 4573 8112
# Another container from this image runs the API:
#   uvicorn --factory api.app:create_app --host 0.0.0.0 --port 8112
# and another webhook delivery (then give this one SIAGA_WEBHOOKS__WORKERS=0, so deliveries never
# share the call path's event loop):
#   python -m gateway.delivery
CMD ["/opt/siaga112/.venv/bin/python", "-m", "gateway"]
