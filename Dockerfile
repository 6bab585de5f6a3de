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
RUN pip install --no-cache-dir . && useradd --system --home /app mfr
USER mfr
ENTRYPOINT []
CMD ["mfr", "--help"]
