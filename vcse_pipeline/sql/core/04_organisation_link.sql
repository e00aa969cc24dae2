-- Each link that joined two source records into one organisation, with how and why.
CREATE TABLE IF NOT EXISTS organisation_link (
    area_code     VARCHAR NOT NULL,
    left_record   VARCHAR NOT NULL,   -- source_record.record_id
    right_record  VARCHAR NOT NULL,
    method        VARCHAR NOT NULL,   -- e.g. 'company number', 'society number', 'website', 'fuzzy name'
    score         DOUBLE NOT NULL,    -- 100 for exact identifier links; rapidfuzz-based score otherwise
    evidence      VARCHAR NOT NULL    -- JSON: the fields compared and their values
);
