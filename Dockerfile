# syntax=docker/dockerfile:1
# Multi-stage build of the selfheal binary and its web dashboard. Targets:
#   web      — bundles the dashboard (web/) with Vite; Vite 7 needs Node 20, newer than Debian 12's
#   build    — compiles `selfheal` (release, tests and benchmarks off)
#   selfheal — the runtime image: one binary, every service (`selfheal all` or `selfheal <service>`)
# Build and tag it as the manifests expect (deploy/k8s, deploy/compose; tests/deploy checks the
# names and tags agree with this file and with the project version in CMakeLists.txt):
#   docker build --target selfheal -t selfheal:0.1.0 .
ARG SELFHEAL_VERSION=0.1.0

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

FROM debian:12 AS build
WORKDIR /src
# The same Debian packages as a developer machine: one list, scripts/bootstrap.sh.
COPY scripts/bootstrap.sh scripts/bootstrap.sh
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates git \
    && scripts/bootstrap.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DSELFHEAL_BUILD_TESTS=OFF -DSELFHEAL_BUILD_BENCH=OFF \
    && cmake --build --preset release --target selfheal \
    && strip build/release/bin/selfheal

FROM debian:12-slim AS selfheal
ARG SELFHEAL_VERSION
LABEL org.opencontainers.image.title="selfheal" \
      org.opencontainers.image.version="${SELFHEAL_VERSION}" \
      org.opencontainers.image.description="Detects, explains and repairs incidents of microservices on Kubernetes"
# The shared libraries the binary links (tests/deploy checks this list against `ldd selfheal`).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates \
      libyaml-cpp0.7 libfmt9 libsqlite3-0 libssl3 zlib1g libbrotli1 librdkafka1 librdkafka++1 libcpp-httplib0.11 libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/selfheal --create-home selfheal \
    && install -d -o selfheal -g selfheal /var/lib/selfheal/data
COPY --from=build /src/build/release/bin/selfheal /usr/local/bin/selfheal
COPY --from=web /src/web/dist /usr/share/selfheal/web
COPY config/selfheal.yaml /etc/selfheal/selfheal.yaml
COPY models /usr/share/selfheal/models
# Relative paths in the config (./data/...) land in the working directory; data/ is created owned by
# the selfheal user so a named volume mounted there (compose) inherits a writable owner.
ENV SELFHEAL_API_WEB_ROOT=/usr/share/selfheal/web \
    SELFHEAL_ANOMALY_DETECTOR_MODEL_DIR=/usr/share/selfheal/models
USER 10001
WORKDIR /var/lib/selfheal
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/selfheal"]
CMD ["all", "--config", "/etc/selfheal/selfheal.yaml"]
