# chroma2pg: multi-stage build on Debian 12 (bookworm).
#
#   docker build -t chroma2pg:local .
#   docker run --rm chroma2pg:local --help
#
# The builder stage compiles with Debian's own -dev packages; the runtime stage carries only
# the matching shared libraries and runs as an unprivileged user.

FROM debian:12-slim AS builder

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      cmake \
      g++ \
      make \
      pkg-config \
      libcli11-dev \
      libcurl4-openssl-dev \
      libfmt-dev \
      libpq-dev \
      libsimdjson-dev \
      libsqlite3-dev \
      libssl-dev \
      libxxhash-dev \
      libzstd-dev \
      nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . /src

RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCHROMA2PG_BUILD_TESTS=OFF \
 && cmake --build build -j "$(nproc)" \
 && cmake --install build --prefix /opt/chroma2pg --strip \
 && /opt/chroma2pg/bin/chroma2pg --version


FROM debian:12-slim AS runtime

ARG DEBIAN_FRONTEND=noninteractive
# Runtime counterparts of the builder's -dev packages (Debian 12 names).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libcurl4 \
      libfmt9 \
      libpq5 \
      libsimdjson14 \
      libsqlite3-0 \
      libssl3 \
      libxxhash0 \
      libzstd1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 chroma2pg \
 && useradd --system --uid 10001 --gid chroma2pg --home-dir /work --create-home \
      --shell /usr/sbin/nologin chroma2pg \
 && mkdir -p /backups /reports \
 && chown chroma2pg:chroma2pg /backups /reports

COPY --from=builder /opt/chroma2pg /opt/chroma2pg
ENV PATH="/opt/chroma2pg/bin:${PATH}"

USER chroma2pg:chroma2pg
WORKDIR /work

ENTRYPOINT ["chroma2pg"]
CMD ["--help"]
