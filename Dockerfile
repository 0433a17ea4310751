# The controller image: `kuscia-reconciler run`, as a non-root user, from the
# package's wheel. The build stage makes the wheels (the package's and its
# dependencies') and installs them into a virtualenv; the runtime stage copies
# only that virtualenv, so no compiler, pip cache or source tree ships.
#
# BASE_IMAGE: any image with python3 (with venv), groupadd and useradd; both
# stages use it, so the virtualenv's interpreter is the runtime's.
# WHEELHOUSE: empty, wheels come from the package index; a directory (mounted
# into the build), wheels come from there only (devcluster.images.controller).
ARG PYTHON_VERSION=3.12
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY builders/ builders/
COPY informers/ informers/
COPY reconciler/ reconciler/
RUN python3 -m venv /opt/kuscia-reconciler \
 && /opt/kuscia-reconciler/bin/pip wheel --wheel-dir /wheels \
      ${WHEELHOUSE:+--no-index --find-links "$WHEELHOUSE"} . \
 && /opt/kuscia-reconciler/bin/pip install --no-index --find-links /wheels kuscia-reconciler \
 && /opt/kuscia-reconciler/bin/pip uninstall --yes pip setuptools \
 && /opt/kuscia-reconciler/bin/kuscia-reconciler --help >/dev/null

FROM ${BASE_IMAGE}
# 65532 is the chart's runAsUser: a user with no shell and no home.
RUN groupadd --gid 65532 reconciler \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin reconciler
COPY --from=build /opt/kuscia-reconciler /opt/kuscia-reconciler
# Bytecode is compiled at install time; the root filesystem is read-only at run time.
ENV PATH=/opt/kuscia-reconciler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["kuscia-reconciler", "run"]
