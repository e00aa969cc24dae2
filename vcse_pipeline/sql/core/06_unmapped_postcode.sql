-- Register records whose postcode is missing, malformed, unknown or terminated in the postcode directory: the
-- addresses to chase. A terminated postcode still places its record (by its last geography); the others do not.
CREATE TABLE IF NOT EXISTS unmapped_postcode (
    area_code  VARCHAR NOT NULL,
    record_id  VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,
    name       VARCHAR,
    postcode   VARCHAR,
    reason     VARCHAR NOT NULL   -- 'missing', 'malformed', 'not in postcode directory', 'terminated'
);
