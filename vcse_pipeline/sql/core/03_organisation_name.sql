-- Every name an organisation is known by: registered, working and previous names.
CREATE TABLE IF NOT EXISTS organisation_name (
    area_code        VARCHAR NOT NULL,
    org_id           VARCHAR NOT NULL,
    name             VARCHAR NOT NULL,
    name_type        VARCHAR NOT NULL,  -- registered, working, previous, other
    source           VARCHAR NOT NULL,
    normalised_name  VARCHAR NOT NULL   -- vcse_pipeline.names.normalise_name(name)
);
