# syntax=docker/dockerfile:1
# The arxiv-atlas batch image: `ingest`, `train`, `evaluate`, `embed --shard I/N`, `index build` — the jobs of
# deploy/kubernetes/{embed,load}-job.yaml and deploy/vertex/. It is the API image (docker/api.Dockerfile: the
# same binary and ONNX Runtime, so a cluster pulls those layers once) plus the configuration tree `conf/` that
# `train` resolves, and no health check: a job's state is its exit status.
#
# Context: the repository (CI) or a folder from scripts/image-context.sh (offline); both hold conf/.
ARG API_IMAGE=ghcr.io/arxiv-atlas/arxiv-atlas-api:latest

FROM scratch AS conf
COPY conf /conf

# hadolint ignore=DL3006
FROM ${API_IMAGE}
COPY --from=conf /conf /opt/arxiv-atlas/conf
ENV ARXIV_ATLAS_CONFIG_DIR=/opt/arxiv-atlas/conf \
    ARXIV_ATLAS_CACHE_DIR=/tmp/arxiv-atlas-cache
USER 65534:65534
WORKDIR /tmp
HEALTHCHECK NONE
ENTRYPOINT ["arxiv-atlas"]
CMD ["--help"]
