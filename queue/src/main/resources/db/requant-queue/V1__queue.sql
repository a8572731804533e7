-- requant queue schema, version 1. One file for SQLite and PostgreSQL: the only difference, the id column, comes in
-- as the Flyway placeholder ${id_column}. Times are epoch milliseconds (BIGINT) from the database's clock on
-- PostgreSQL and the host clock on SQLite (one host), so lease expiry never compares two machines' clocks.

-- What a user asked for with `requant queue add`.
CREATE TABLE jobs (
    id           ${id_column},
    source       TEXT    NOT NULL,  -- absolute path of the HF folder or GGUF file
    source_kind  TEXT    NOT NULL,  -- hf | gguf
    model_name   TEXT    NOT NULL,  -- stem of the output names
    out_dir      TEXT    NOT NULL,
    types        TEXT    NOT NULL,  -- comma-separated quant types, canonical names
    imatrix      TEXT    NOT NULL,  -- none | auto | file
    imatrix_file TEXT,              -- the given file (imatrix = file)
    calibration  TEXT,              -- calibration text (imatrix = auto)
    priority     INTEGER NOT NULL,
    state        TEXT    NOT NULL,  -- active | cancelled
    created_at   BIGINT  NOT NULL
);

-- One unit of work with one output file. Steps are shared between jobs by output path (one base GGUF and one
-- imatrix per source), so `output` is unique.
CREATE TABLE steps (
    id            ${id_column},
    kind          TEXT    NOT NULL,  -- convert | imatrix | quantize
    quant_type    TEXT,              -- quantize: canonical llama-quantize type name
    input         TEXT    NOT NULL,  -- convert: HF folder; imatrix, quantize: the model GGUF
    imatrix       TEXT,              -- quantize: importance matrix file, if any
    calibration   TEXT,              -- imatrix: calibration text
    output        TEXT    NOT NULL UNIQUE,
    state         TEXT    NOT NULL,  -- queued | running | done | failed | cancelled
    priority      INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    not_before    BIGINT  NOT NULL,  -- retry backoff: not claimed before this time
    worker        TEXT,              -- holder of the lease (running) or last holder
    lease_token   TEXT,              -- fences every write of the lease holder
    lease_until   BIGINT,
    heartbeat_at  BIGINT,
    started_at    BIGINT,            -- start of the current or last attempt
    finished_at   BIGINT,
    progress      DOUBLE PRECISION,  -- 0..1 as last reported by the executor
    output_size   BIGINT,            -- recorded before the output is renamed into place
    output_sha256 TEXT,
    error         TEXT,              -- last failure
    note          TEXT,              -- e.g. why a step was skipped
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE step_deps (
    step_id    BIGINT NOT NULL REFERENCES steps (id),
    depends_on BIGINT NOT NULL REFERENCES steps (id),
    PRIMARY KEY (step_id, depends_on)
);

CREATE TABLE job_steps (
    job_id  BIGINT NOT NULL REFERENCES jobs (id),
    step_id BIGINT NOT NULL REFERENCES steps (id),
    PRIMARY KEY (job_id, step_id)
);

-- One row per lease taken on a step: who ran it, how it ended, and the log it wrote (`requant queue log`).
CREATE TABLE step_attempts (
    id          ${id_column},
    step_id     BIGINT  NOT NULL REFERENCES steps (id),
    attempt     INTEGER NOT NULL,
    worker      TEXT    NOT NULL,
    lease_token TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,               -- done | skipped | failed | lease expired | released | cancelled
    error       TEXT,
    log         TEXT
);

CREATE INDEX steps_claim ON steps (state, priority, id);
CREATE INDEX step_deps_by_dependency ON step_deps (depends_on);
CREATE INDEX job_steps_by_step ON job_steps (step_id);
CREATE INDEX step_attempts_by_step ON step_attempts (step_id, attempt);
