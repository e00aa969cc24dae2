-- Every identifier an organisation is known by, from every register record merged into it.
CREATE TABLE IF NOT EXISTS organisation_identifier (
    area_code   VARCHAR NOT NULL,
    org_id      VARCHAR NOT NULL,   -- the canonical org-id of the organisation
    identifier  VARCHAR NOT NULL,   -- an org-id form: GB-CHC-1234567, GB-COH-01234567, GB-MPR-12345R
    scheme      VARCHAR NOT NULL,   -- GB-CHC, GB-COH, GB-MPR
    source      VARCHAR NOT NULL,   -- charity_commission, companies_house, fca_mutuals
    record_id   VARCHAR NOT NULL,   -- the source record (see source_record.record_id)
    is_canonical BOOLEAN NOT NULL,
    PRIMARY KEY (area_code, identifier)
);
