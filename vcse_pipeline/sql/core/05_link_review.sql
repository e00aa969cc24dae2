-- Pairs scored between the review and link thresholds: not merged, waiting for a person to decide.
CREATE TABLE IF NOT EXISTS link_review (
    area_code     VARCHAR NOT NULL,
    left_record   VARCHAR NOT NULL,
    right_record  VARCHAR NOT NULL,
    left_name     VARCHAR,
    right_name    VARCHAR,
    score         DOUBLE NOT NULL,
    evidence      VARCHAR NOT NULL
);
