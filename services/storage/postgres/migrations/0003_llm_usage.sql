-- LLM usage per provider and UTC day (see SQLite's 0003 for the meaning of each column).
CREATE TABLE llm_usage (
    day                 text    NOT NULL,   -- YYYY-MM-DD, UTC
    provider            text    NOT NULL,
    requests            bigint  NOT NULL DEFAULT 0,
    errors              bigint  NOT NULL DEFAULT 0,
    fallbacks           bigint  NOT NULL DEFAULT 0,
    prompt_tokens       bigint  NOT NULL DEFAULT 0,
    completion_tokens   bigint  NOT NULL DEFAULT 0,
    estimated_requests  bigint  NOT NULL DEFAULT 0,
    latency_ms_sum      double precision NOT NULL DEFAULT 0,
    latency_count       bigint  NOT NULL DEFAULT 0,
    latency_ms_max      double precision NOT NULL DEFAULT 0,
    ttft_ms_sum         double precision NOT NULL DEFAULT 0,
    ttft_count          bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider)
);
