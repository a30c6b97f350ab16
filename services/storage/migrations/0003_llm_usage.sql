-- LLM usage per provider and UTC day: what was asked, what it cost in tokens, how it went.
-- Averages are *_ms_sum / *_count; `fallbacks` counts answers this provider delivered after an
-- earlier provider in the chain failed or was skipped.
CREATE TABLE IF NOT EXISTS llm_usage (
    day                 TEXT    NOT NULL,   -- YYYY-MM-DD, UTC
    provider            TEXT    NOT NULL,   -- ollama | openrouter | openai
    requests            INTEGER NOT NULL DEFAULT 0,
    errors              INTEGER NOT NULL DEFAULT 0,
    fallbacks           INTEGER NOT NULL DEFAULT 0,
    prompt_tokens       INTEGER NOT NULL DEFAULT 0,
    completion_tokens   INTEGER NOT NULL DEFAULT 0,
    estimated_requests  INTEGER NOT NULL DEFAULT 0,  -- requests whose token counts were estimated
    latency_ms_sum      REAL    NOT NULL DEFAULT 0,
    latency_count       INTEGER NOT NULL DEFAULT 0,
    latency_ms_max      REAL    NOT NULL DEFAULT 0,
    ttft_ms_sum         REAL    NOT NULL DEFAULT 0,  -- time to first token
    ttft_count          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider)
) WITHOUT ROWID;
