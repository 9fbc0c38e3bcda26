# syntax=docker/dockerfile:1
# Multi-stage build of the selfheal binary. Targets:
#   build    — compiles and runs the unit tests' build (not the tests themselves)
#   selfheal — the runtime image: one binary, every service (`selfheal all` or `selfheal <service>`)
FROM debian:12 AS build
WORKDIR /src
COPY scripts/bootstrap.sh scripts/bootstrap.sh
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates git \
    && scripts/bootstrap.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DSELFHEAL_BUILD_TESTS=OFF -DSELFHEAL_BUILD_BENCH=OFF \
    && cmake --build --preset release --target selfheal \
    && strip build/release/bin/selfheal

FROM debian:12-slim AS selfheal
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates \
      libyaml-cpp0.7 libfmt9 libsqlite3-0 libssl3 zlib1g libbrotli1 librdkafka1 librdkafka++1 libcpp-httplib0.11 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/selfheal --create-home selfheal
COPY --from=build /src/build/release/bin/selfheal /usr/local/bin/selfheal
COPY config/selfheal.yaml /etc/selfheal/selfheal.yaml
USER 10001
WORKDIR /var/lib/selfheal
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/selfheal"]
CMD ["all", "--config", "/etc/selfheal/selfheal.yaml"]
