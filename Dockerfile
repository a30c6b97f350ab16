# The bot alone. compose.yaml runs it next to Ollama, Kokoro-FastAPI, speaches (Whisper) and SearXNG.
#   docker build -t discord-llm-bot .
#   docker run --env-file .env -v bot-data:/app/data discord-llm-bot
FROM python:3.11.14-slim-trixie

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Voice: ffmpeg plays the bot's speech, libopus0 is Discord's codec (discord.py loads it through ctypes).
# Not pinned to package versions: Debian replaces them with each security update (a pin would break the
# build); the base image tag fixes the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libopus0 \
    && rm -rf /var/lib/apt/lists/*

# The requirements first, so a code change does not reinstall them.
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY main.py bot.py ./
COPY config/ config/
COPY cogs/ cogs/
COPY discord_ui/ discord_ui/
COPY services/ services/

# Never root: the bot needs no privilege, and data/ (database, logs) is the only place it writes.
RUN useradd --create-home --uid 10001 --user-group bot \
    && mkdir -p /app/data \
    && chown bot:bot /app/data
USER 10001:10001
VOLUME ["/app/data"]

# Healthy = the bot's own monitor found it connected to the Discord gateway within the last two
# HEALTH_CHECK_INTERVALs (a stuck event loop or a lost connection both turn it unhealthy).
HEALTHCHECK --interval=60s --timeout=15s --start-period=90s --retries=3 \
    CMD ["python", "-m", "config", "--health"]

ENTRYPOINT ["python", "main.py"]
