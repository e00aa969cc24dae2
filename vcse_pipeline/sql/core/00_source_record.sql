-- One row per register record considered for an area: the records in the area (by postcode or by area of
-- operation) and the records an identifier links to them. Built by vcse_pipeline.register.records.
CREATE TABLE IF NOT EXISTS source_record (
    area_code            VARCHAR NOT NULL,
    record_id            VARCHAR NOT NULL,  -- charity_commission:<organisation_number>, companies_house:<company_number>, fca_mutuals:<registration_number>
    source               VARCHAR NOT NULL,
    identifier           VARCHAR NOT NULL,  -- org-id form: GB-CHC-1234567 (GB-CHC-1234567-1 for a linked charity), GB-COH-01234567, GB-MPR-12345R
    parent_identifier    VARCHAR,           -- linked (subsidiary) charities: the main charity's GB-CHC- id
    name                 VARCHAR NOT NULL,
    legal_form           VARCHAR NOT NULL,  -- readable, e.g. Charitable incorporated organisation
    is_vcse              BOOLEAN NOT NULL,  -- passes the VCSE rule (docs/vcse-rule.md)
    is_active            BOOLEAN NOT NULL,
    status               VARCHAR,           -- the source register's own status text
    address              VARCHAR,
    postcode             VARCHAR,           -- normalised ("CH41 1AA"); NULL when missing or malformed
    raw_postcode         VARCHAR,           -- as the register gave it
    town                 VARCHAR,
    website              VARCHAR,
    email                VARCHAR,
    phone                VARCHAR,
    charity_number       VARCHAR,
    company_number       VARCHAR,           -- 8 characters; for charities, from the extract (placeholders dropped)
    society_number       VARCHAR,           -- FCA full registration number
    latest_income        DOUBLE,
    latest_expenditure   DOUBLE,
    latest_financial_year_end DATE,
    date_registered      DATE,
    date_removed         DATE,
    lad_code             VARCHAR,           -- from the postcode directory; a terminated postcode keeps its last geography
    ward_code            VARCHAR,
    ward_name            VARCHAR,
    lsoa_code            VARCHAR,
    imd_decile           INTEGER,           -- ceil(imd_rank * 10 / 32844): 1 = most deprived 10% of English LSOAs
    postcode_status      VARCHAR NOT NULL,  -- 'mapped', 'missing', 'malformed', 'not in postcode directory', 'terminated'
    in_area_by_postcode  BOOLEAN NOT NULL,
    in_area_by_operation BOOLEAN NOT NULL,
    operation_areas      VARCHAR,           -- the area-of-operation entries that matched, '; '-separated
    PRIMARY KEY (area_code, record_id)
);
