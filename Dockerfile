# One image for every idsync service: `idsync serve <service>` picks which.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY core ./core
COPY services ./services
RUN pip install --no-cache-dir .
# The recorder keeps its history database there (compose.yaml mounts a volume).
RUN mkdir -p /history && chown nobody /history
USER nobody
ENTRYPOINT ["idsync"]
