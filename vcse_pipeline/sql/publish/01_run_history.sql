-- One row per pipeline run that reached the publish step or failed before it (also in run_history.jsonl).
CREATE TABLE IF NOT EXISTS run_history (
    run_id        VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,  -- published, unchanged, failed_quality, failed, rolled_back, rolled_forward
    version_file  VARCHAR,           -- the versions/ file this run built (or published, for a rollback)
    areas         VARCHAR,           -- JSON list of GSS codes built
    sources       VARCHAR,           -- JSON: per source, staged_at, files, row_counts and download checksums
    counts        VARCHAR,           -- JSON: organisations per area, changes by type
    timings       VARCHAR,           -- JSON: seconds per step
    gates         VARCHAR,           -- JSON list of quality gate results
    message       VARCHAR,           -- why a run failed; empty for a publish
    fingerprint   VARCHAR,           -- sha256 of the build's inputs (staged releases, settings, code); equal = same register
    inputs        VARCHAR            -- JSON: what the fingerprint covers (per source release fingerprint, areas, settings, code)
);
