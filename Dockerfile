# Production image: Granian web, RQ worker, scheduler and Telegram poller share it.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_THREAD_LIMIT=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-deu \
      tesseract-ocr-fra tesseract-ocr-ita tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY handlers ./handlers
COPY nlu ./nlu
COPY templates ./templates
RUN pip install --no-cache-dir -e . && useradd --system --home /app crms && mkdir -p /app/var \
 && chown crms /app/var
USER crms
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "3", \
     "--blocking-threads", "3", "--no-ws", "--access-log", "bot.wsgi:app"]
