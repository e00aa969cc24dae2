-- What this publish changed against the register published before it (computed by ATTACHing that file).
CREATE TABLE IF NOT EXISTS register_change (
    run_id       VARCHAR NOT NULL,
    area_code    VARCHAR NOT NULL,
    org_id       VARCHAR NOT NULL,
    change_type  VARCHAR NOT NULL,  -- new, closed, reopened, changed
    field        VARCHAR,           -- the column that changed (changed/closed/reopened rows)
    old_value    VARCHAR,
    new_value    VARCHAR
);
