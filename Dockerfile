# Verdict's server image: `verdict serve` on port 8000 (docs/deployment.md).
#
#   docker build -t verdict .
#   docker run -p 8000:8000 -e VERDICT_DATABASE_URL=postgresql://verdict:secret@db/verdict verdict
#
# The same image runs the worker and one-off commands: `docker run verdict verdict worker`,
# `docker run -it verdict verdict users create-admin --username admin --email …`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from (pyproject.toml names README.md as its readme).
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /build

# A user without privileges, and a directory of its own: the working directory holds
# the SQLite database (./verdict.db) when VERDICT_DATABASE_URL is left at its default.
RUN useradd --system --create-home --home-dir /var/lib/verdict --uid 10001 verdict
USER verdict
WORKDIR /var/lib/verdict

EXPOSE 8000

# 200 from /healthz: the database answers and is migrated to the newest revision.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VERDICT_PORT', '8000') + '/healthz', timeout=4)"]

CMD ["verdict", "serve", "--host", "0.0.0.0"]
