-- Reference data copied into the register so it is self-contained once staging is detached.

-- Coordinates of the postcodes the register uses: every live postcode of each area and every organisation's
-- postcode (terminated ones too): distance searches (vcse find --near) need them.
CREATE TABLE IF NOT EXISTS postcode_location (
    postcode   VARCHAR PRIMARY KEY,   -- normalised ("CH41 1AA")
    lad_code   VARCHAR,
    ward_code  VARCHAR,
    lat        DOUBLE,
    long       DOUBLE
);

-- Every ward of each built area, named: neighbourhood views list wards that have no providers too.
CREATE TABLE IF NOT EXISTS area_ward (
    area_code  VARCHAR NOT NULL,
    ward_code  VARCHAR NOT NULL,
    ward_name  VARCHAR,
    postcodes  INTEGER NOT NULL,      -- live postcodes in the ward (a rough size measure)
    PRIMARY KEY (area_code, ward_code)
);

-- What an organisation says it does, in its own words: keyword search and tagging read it.
CREATE TABLE IF NOT EXISTS organisation_text (
    area_code  VARCHAR NOT NULL,
    org_id     VARCHAR NOT NULL,
    record_id  VARCHAR NOT NULL,
    activities VARCHAR,               -- Charity Commission charity_activities
    objects    VARCHAR                -- Charity Commission charitable_objects (governing document)
);
