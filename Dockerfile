# EPMPulse in a container: `epmpulse run` as a non-root user, its state in the /data volume.
#
#   docker build -t epmpulse .
#   docker run -d --name epmpulse --env-file epmpulse.env \
#     -v epmpulse-data:/data -v "$PWD/epmpulse.yml:/etc/epmpulse/epmpulse.yml:ro" \
#     -e EPMPULSE_CONFIG=/etc/epmpulse/epmpulse.yml -p 127.0.0.1:8080:8080 epmpulse
#
# See "Run in production" in README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin epmpulse \
 && mkdir -p /data /etc/epmpulse \
 && chown epmpulse:epmpulse /data \
 && chmod 0700 /data

# State, history, backups and rotated EPM tokens live in /data: mount a volume there.
# Inside a container the API must listen beyond loopback to be published at all; publish
# it on the host's loopback (-p 127.0.0.1:8080:8080) or behind a TLS proxy.
ENV EPMPULSE_DATA_DIR=/data \
    EPMPULSE_HTTP_HOST=0.0.0.0 \
    EPMPULSE_HTTP_PORT=8080 \
    EPMPULSE_LOG_FORMAT=json

USER epmpulse
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# /api/v1/health answers 200 when store, scheduler, Slack connection and canvas are
# healthy, 503 otherwise; urlopen raises on 503, which exits 1 (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('EPMPULSE_HTTP_PORT', '8080') + '/api/v1/health', timeout=4)"]

ENTRYPOINT ["epmpulse"]
CMD ["run"]
