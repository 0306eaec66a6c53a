# syntax=docker/dockerfile:1
# Image for `amm live` (and every other `amm` command): Python 3.12, the project and its pinned
# dependencies in a virtualenv, run as a non-root user. Models, configs, catalog and logs are NOT
# baked in: mount them (see docs/deployment.md and live/k8s/).
#
#   docker build -t automated-market-making:0.1.0 .
#   docker run --rm -v "$PWD/live/configs:/config:ro" -v amm-data:/data \
#     -e BINANCE_FUTURES_TESTNET_API_KEY -e BINANCE_FUTURES_TESTNET_API_SECRET \
#     automated-market-making:0.1.0 live --config /config/binance_usdm_testnet.toml
# Keys: pass the variables through (-e NAME, no value on the command line) or mount a secret
# directory and set AMM_SECRETS_PATH to it.

ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

# --- build: resolve and install everything into /opt/venv ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU build of the torch version pyproject.toml pins, from PyTorch's own index: PyPI's default
# wheel pulls in ~3 GB of CUDA libraries a market-making node never uses. `pip install .` below
# then finds torch==2.14.1 satisfied (2.14.1+cpu) and installs the other pins from PyPI.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY catalog ./catalog
COPY strategies ./strategies
COPY backtests ./backtests
COPY rl ./rl
COPY live ./live
COPY amm ./amm
RUN pip install . && pip check

# --- runtime: the virtualenv, a non-root user, nothing else -----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="automated-market-making" \
      org.opencontainers.image.description="RL and baseline market makers on NautilusTrader: backtest, train, run live" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 amm \
    && useradd --system --uid 10001 --gid amm --home-dir /home/amm --create-home --shell /usr/sbin/nologin amm \
    && mkdir -p /data /config /models /tmp/amm \
    && chown amm:amm /data /tmp/amm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AMM_HEALTH_FILE=/tmp/amm/health.json
WORKDIR /data
USER 10001:10001
# The node rewrites $AMM_HEALTH_FILE from its event loop every few seconds once it has connected,
# reconciled and started the strategies; a stale or missing heartbeat marks the container unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "live.health", "--max-age-secs", "60"]
# SIGTERM (docker stop, Kubernetes) engages the kill switch: cancel all orders, then exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["amm"]
CMD ["live", "--config", "/config/live.toml"]
