# syntax=docker/dockerfile:1
# Build stage: compile a release binary with the Swift standard library linked in statically.
FROM swift:6.1-bookworm AS build
# A static Foundation links libcurl by name at build time (the image ships it; installed here in case it does not).
RUN apt-get update && apt-get install -y --no-install-recommends libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift package resolve
RUN swift build -c release --product nibble --static-swift-stdlib \
    && mkdir -p /out && cp "$(swift build -c release --show-bin-path)/nibble" /out/nibble

# Runtime stage: slim Debian, non-root, the default model inside.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcurl4 libxml2 tzdata curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 nibble
WORKDIR /app
COPY --from=build /out/nibble /usr/local/bin/nibble
COPY models/kjv-llama-4m /app/models/kjv-llama-4m
COPY config /app/config
USER nibble
ENV NIBBLE_HOST=0.0.0.0 NIBBLE_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["nibble", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
