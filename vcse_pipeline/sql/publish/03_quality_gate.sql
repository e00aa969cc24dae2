-- The data-quality gates run on this version before it was published.
CREATE TABLE IF NOT EXISTS quality_gate (
    run_id     VARCHAR NOT NULL,
    gate       VARCHAR NOT NULL,   -- e.g. row_count_band, postcode_mapped_share
    area_code  VARCHAR,            -- NULL for gates over the whole register
    passed     BOOLEAN NOT NULL,
    value      DOUBLE,             -- what was measured
    threshold  DOUBLE,
    message    VARCHAR NOT NULL
);
