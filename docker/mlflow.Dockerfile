# syntax=docker/dockerfile:1
# MLflow tracking server and model registry, for the compose stack where the public `ghcr.io/mlflow/mlflow` image
# cannot be pulled (docs/deployment.md, "Bringing the stack up here"). Elsewhere compose.yaml uses the public
# image; this one is the same server from PyPI, on the same version that scripts/mlflow.sh pins and the
# atlas-track tests run against. No build context is needed (`podman build -f docker/mlflow.Dockerfile docker`).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG MLFLOW_VERSION=3.17.2
# A CA bundle for pip where HTTPS goes through an intercepting proxy: the build mounts the host's bundle there
# (scripts/podman-images.sh: `podman build -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro`).
ARG PIP_CERT=
# python3-venv: pip inside a venv, not over Debian's own Python packages. The apt caches go (see api.Dockerfile).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN python3 -m venv /opt/mlflow \
 && /opt/mlflow/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_CERT:+--cert "$PIP_CERT"} \
      "mlflow==${MLFLOW_VERSION}" \
 && mkdir /mlflow \
 && chown 65534:65534 /mlflow
# HOME: MLflow and its libraries write caches there; nobody's home (/nonexistent) does not exist.
ENV PATH=/opt/mlflow/bin:$PATH \
    HOME=/tmp
USER 65534:65534
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2)"]
CMD ["mlflow", "server", "--host=0.0.0.0", "--port=5000", "--backend-store-uri=sqlite:////mlflow/mlflow.db", \
     "--artifacts-destination=/mlflow/artifacts", "--serve-artifacts"]
