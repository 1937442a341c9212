# One image for both processes of seed-sfu (see README "Deploy on Kubernetes"):
#   media node:   docker run IMAGE                                   (python -m sfu)
#   control API:  docker run IMAGE python -m control_api --host 0.0.0.0 --port 8080
# Settings come from SFU_* environment variables (README "Configuration").

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: a compiler for the Cython kernels (cython_ext/). The dependencies come from the
# locks (requirements/README.md) with their hashes; the package is built into a wheel by a build
# venv holding the locked build requirements, and installed without dependencies into the venv
# that the runtime stage copies.
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.lock requirements/build.lock requirements/
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.lock \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml setup.py README.md ./
COPY cython_ext/ cython_ext/
COPY sfu/ sfu/
COPY control_api/ control_api/
COPY cluster/ cluster/
COPY serving/ serving/
COPY webclient/ webclient/
# The check runs outside /src so that it imports the installed package, not the sources.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && cd / && /opt/venv/bin/python -c \
       "import sfu.rtp.kernels, sfu.media.kernels, sfu.webrtc.kernels, cython_ext.twins as t; \
        assert t.IMPLEMENTATION == 'cython', t.IMPLEMENTATION"

# Runtime stage: no compiler, no sources, a non-root user.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 sfu \
    && useradd --system --uid 10001 --gid sfu --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sfu
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SFU_LOG_FORMAT=json
USER 10001:10001
# 7880: a media node's signaling WebSocket, /metrics, /healthz, /readyz (SFU_NODE_PORT);
# 7882/udp: the node's one ICE-lite port for all media (SFU_UDP_PORT); 7882/tcp: ICE-TCP for
# clients that cannot use UDP (SFU_TCP_PORT); 8080: the control API.
EXPOSE 7880 7882/udp 7882/tcp 8080
CMD ["python", "-m", "sfu"]
