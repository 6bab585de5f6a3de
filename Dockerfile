# One image for every service: `mfr <service>` picks what it runs.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mfr mfr
COPY schemas schemas
COPY listener listener
COPY extractor extractor
COPY publisher publisher
COPY archive archive
COPY simulator simulator
COPY pipeline pipeline
# /var/lib/mfr: the embedded bus, the extractor's state cache, a SQLite archive (a volume).
RUN pip install --no-cache-dir . && useradd --system --home /app mfr \
    && mkdir -p /var/lib/mfr && chown mfr /var/lib/mfr
USER mfr
WORKDIR /var/lib/mfr
ENTRYPOINT []
CMD ["mfr", "--help"]
