# syntax=docker/dockerfile:1
# PostgreSQL 15 (Debian's) + pgvector built from source, for the compose stack where the public
# `pgvector/pgvector` image cannot be pulled (docs/deployment.md, "Bringing the stack up here"). Elsewhere
# compose.yaml uses the public image; this one behaves like it where compose relies on it: POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB create the role and database on the first start, the data live in
# /var/lib/postgresql/data, `pg_isready` is on the PATH, other containers connect with a password.
#
# Context: a folder holding pgvector-${PGVECTOR_VERSION}.tar.gz (the upstream tag's source) and
# postgres-entrypoint.sh (this folder's); scripts/podman-images.sh --stack stages it outside the repository.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
ARG PG_MAJOR=15
ARG PGVECTOR_VERSION=0.8.2

# --- pgvector, compiled against the same server packages the image runs ---------------------------------------
FROM ${BASE_IMAGE} AS pgvector
ARG PG_MAJOR
ARG PGVECTOR_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-server-dev-${PG_MAJOR}" make gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pgvector-${PGVECTOR_VERSION}.tar.gz /tmp/pgvector.tar.gz
# OPTFLAGS="": pgvector defaults to -march=native, which would tie the image to the CPU that built it (its fast
# paths are chosen at run time anyway). with_llvm=no: no JIT bitcode, which would need clang at build time only
# to produce files the server can do without.
# One `make install` (it builds first): a separate `make` and then `make install DESTDIR=…` compiled it twice.
RUN mkdir /tmp/pgvector \
 && tar xzf /tmp/pgvector.tar.gz -C /tmp/pgvector --strip-components=1 \
 && make -C /tmp/pgvector OPTFLAGS="" with_llvm=no PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" \
      DESTDIR=/out install

# --- the server ------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG PG_MAJOR
# The postgres user gets a fixed id (999, as in the public images) before the package would pick one, so that
# USER can name it by number. Debian's package would create and register a cluster 15/main; the entrypoint
# makes its own in PGDATA instead. The apt caches go too (an mmdebstrap base keeps them, see api.Dockerfile).
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && test ! -e "/var/lib/postgresql/${PG_MAJOR}/main" \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
COPY --from=pgvector /out/usr/lib/postgresql /usr/lib/postgresql
COPY --from=pgvector /out/usr/share/postgresql /usr/share/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER 999:999
# A volume mounted on PGDATA (compose's pgdata) starts as a copy of this folder, owned by postgres.
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to disconnect).
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD ["pg_isready", "-q"]
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
