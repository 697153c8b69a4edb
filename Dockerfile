# The featurestore image: the package without the embedded servers (compose provides them).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY featurestore ./featurestore
COPY streaming ./streaming
COPY feature_repo ./feature_repo
RUN pip install --no-cache-dir .
ENV FEATURESTORE_REPO_PATH=/app/feature_repo \
    FEATURESTORE_DATA_DIR=/data
ENTRYPOINT ["featurestore"]
