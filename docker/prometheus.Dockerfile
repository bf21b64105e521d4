# syntax=docker/dockerfile:1
# Prometheus for the compose stack where the public `prom/prometheus` image cannot be pulled
# (docs/deployment.md, "Bringing the stack up here"): Debian's `prometheus` package. Elsewhere compose.yaml
# uses the public image; this one takes the same command line (flags only, the binary is the entry point), keeps
# its data under /prometheus and runs as nobody, like it. No build context is needed.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}
# The package's service is never started in an image; the apt caches go (see api.Dockerfile).
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && mkdir /prometheus \
 && chown 65534:65534 /prometheus
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus/data"]
