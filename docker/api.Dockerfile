# syntax=docker/dockerfile:1
# The arxiv-atlas HTTP API: `arxiv-atlas serve` on a Debian slim base, non-root, with ONNX Runtime inside.
#
# Two ways to fill it (build args pick the stages; unused stages are skipped):
# - CI (.github/workflows/image.yml), context = the repository: BINARY=compile builds the release binary in
#   RUST_IMAGE; ORT=pypi takes ONNX Runtime's library from the PyPI wheel in PYTHON_IMAGE.
# - Offline (no registry, docs/deployment.md): context = a folder made by scripts/image-context.sh, holding the
#   binary built on the host (glibc of Debian 12), onnxruntime/ and optionally model/ and index/:
#   BINARY=context ORT=context, BASE_IMAGE = a local Debian image imported from mmdebstrap.
# MODEL=context / INDEX=context bake context's model/ and index/ into the image; the default (none) leaves
# /opt/arxiv-atlas/model and /opt/arxiv-atlas/index empty, to be mounted at run time.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG PYTHON_IMAGE=docker.io/library/python:3.12-slim-bookworm
ARG BINARY=compile
ARG ORT=pypi
ARG MODEL=none
ARG INDEX=none

# --- the release binary -----------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS binary-compile
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p arxiv-atlas && install -D target/release/arxiv-atlas /out/arxiv-atlas

FROM scratch AS binary-context
COPY arxiv-atlas /out/arxiv-atlas

# --- ONNX Runtime (the encoder loads libonnxruntime.so at run time; the version the encoder was tested with) ---
FROM ${PYTHON_IMAGE} AS ort-pypi
ARG ORT_VERSION=1.32.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN pip install --no-cache-dir --no-deps --target /tmp/ort "onnxruntime==${ORT_VERSION}" \
 && install -D "$(find /tmp/ort/onnxruntime/capi -name 'libonnxruntime.so*' -type f | sort | tail -n 1)" \
      /out/libonnxruntime.so

FROM scratch AS ort-context
COPY onnxruntime/libonnxruntime.so /out/libonnxruntime.so

# --- model and index: baked from the context, or empty folders for a mount ---------------------------------
# (The empty variants are made with RUN, not a WORKDIR-only scratch stage: buildah does not commit those.)
FROM ${BASE_IMAGE} AS model-none
RUN mkdir /out
FROM scratch AS model-context
COPY model /out
FROM ${BASE_IMAGE} AS index-none
RUN mkdir /out
FROM scratch AS index-context
COPY index /out

# Stage names chosen by the build args (FROM takes only a literal or an ARG, not an expression); they are stages,
# not images, so there is no tag to pin (DL3006).
# hadolint ignore=DL3006
FROM binary-${BINARY} AS binary
# hadolint ignore=DL3006
FROM ort-${ORT} AS ort
# hadolint ignore=DL3006
FROM model-${MODEL} AS model
# hadolint ignore=DL3006
FROM index-${INDEX} AS index

# --- the image ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
# ca-certificates: TLS to PostgreSQL, MLflow and the Hugging Face hub. Versions follow the base's release.
# apt's package caches go too (the official debian images drop them by configuration; an mmdebstrap base keeps
# them: 91 MB of layer without this).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=binary /out/arxiv-atlas /usr/local/bin/arxiv-atlas
COPY --from=ort /out/libonnxruntime.so /usr/local/lib/onnxruntime/libonnxruntime.so
COPY --from=model /out /opt/arxiv-atlas/model
COPY --from=index /out /opt/arxiv-atlas/index
ENV ORT_DYLIB_PATH=/usr/local/lib/onnxruntime/libonnxruntime.so \
    ARXIV_ATLAS_MODEL_DIR=/opt/arxiv-atlas/model \
    ARXIV_ATLAS_INDEX=/opt/arxiv-atlas/index \
    ARXIV_ATLAS_REQUEST_LOG=/tmp/request-log.sqlite \
    ARXIV_ATLAS_LOG=info
# nobody:nogroup by number (hadolint DL3066 refuses a name); the image holds no writable state of its own.
USER 65534:65534
WORKDIR /tmp
EXPOSE 8080
# bash's /dev/tcp: no curl in the image. 200 only when the model and index are loaded. The port is $PORT when
# set (serve started with --addr on another port; Cloud Run's convention), else 8080.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-8080} && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["arxiv-atlas"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
