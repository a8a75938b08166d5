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
      dpkg-dev \
      file \
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

# The Debian package (cmake/packaging.cmake) is what the runtime stage installs; the
# /opt/chroma2pg tree is the same install, kept for `docker cp` and for the package itself.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCHROMA2PG_BUILD_TESTS=OFF -DCHROMA2PG_BUILD_BENCH=OFF \
 && cmake --build build -j "$(nproc)" \
 && cmake --install build --prefix /opt/chroma2pg --strip \
 && /opt/chroma2pg/bin/chroma2pg --version \
 && cd build && cpack -G DEB \
 && mkdir -p /opt/chroma2pg/deb && cp chroma2pg_*.deb /opt/chroma2pg/deb/chroma2pg.deb \
 && dpkg-deb -f /opt/chroma2pg/deb/chroma2pg.deb Depends


FROM debian:12-slim AS runtime

ARG DEBIAN_FRONTEND=noninteractive
COPY --from=builder /opt/chroma2pg/deb/chroma2pg.deb /tmp/chroma2pg.deb
# Runtime counterparts of the builder's -dev packages (Debian 12 names), then the package, whose
# Depends (computed by dpkg-shlibdeps) apt checks.
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
 && apt-get install -y --no-install-recommends /tmp/chroma2pg.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/chroma2pg.deb \
 && groupadd --system --gid 10001 chroma2pg \
 && useradd --system --uid 10001 --gid chroma2pg --home-dir /work --create-home \
      --shell /usr/sbin/nologin chroma2pg \
 && mkdir -p /backups /reports \
 && chown chroma2pg:chroma2pg /backups /reports

# Reads PGPASSWORD_FILE, CHROMA_TOKEN_FILE, CHROMA2PG_*_FILE (compose/Kubernetes secrets), then
# runs chroma2pg with the arguments (the script is executable in git; COPY keeps the mode).
COPY deploy/docker-entrypoint.sh /usr/local/bin/chroma2pg-entrypoint

USER chroma2pg:chroma2pg
WORKDIR /work

ENTRYPOINT ["chroma2pg-entrypoint"]
CMD ["--help"]
