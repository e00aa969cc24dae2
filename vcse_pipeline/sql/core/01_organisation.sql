-- The register: one row per real organisation in an area (an organisation in two areas has two rows).
CREATE TABLE IF NOT EXISTS organisation (
    area_code              VARCHAR NOT NULL,  -- GSS code of the local authority this row was built for
    org_id                 VARCHAR NOT NULL,  -- canonical org-id: GB-CHC-..., else GB-MPR-..., else GB-COH-...
    name                   VARCHAR NOT NULL,  -- survivorship: see docs/linking.md
    legal_form             VARCHAR NOT NULL,  -- e.g. Charitable incorporated organisation, Community interest company
    is_active              BOOLEAN NOT NULL,  -- removed charities / dissolved companies are kept, flagged inactive
    status                 VARCHAR,           -- the source register's own status text
    parent_org_id          VARCHAR,           -- linked (subsidiary) charities point at their main charity
    address                VARCHAR,
    postcode               VARCHAR,           -- normalised: upper case, one space ("CH41 1AA")
    lad_code               VARCHAR,           -- local authority the postcode maps to
    ward_code              VARCHAR,
    ward_name              VARCHAR,
    lsoa_code              VARCHAR,
    imd_decile             INTEGER,           -- 1 = most deprived 10% of English LSOAs
    postcode_status        VARCHAR,           -- 'mapped', 'terminated' (placed by its last ONSPD geography), 'missing',
                                              -- 'malformed', 'not in postcode directory'
    in_area_by_postcode    BOOLEAN NOT NULL,  -- registered/contact postcode maps to area_code
    in_area_by_operation   BOOLEAN NOT NULL,  -- Charity Commission lists the area or a parent area
    area_basis             VARCHAR NOT NULL,  -- 'postcode', 'area of operation' or 'both'
    website                VARCHAR,
    email                  VARCHAR,
    phone                  VARCHAR,
    latest_income          DOUBLE,
    latest_expenditure     DOUBLE,
    latest_financial_year_end DATE,
    date_registered        DATE,
    date_removed           DATE,
    charity_number         VARCHAR,
    company_number         VARCHAR,
    society_number         VARCHAR,
    source_count           INTEGER NOT NULL,  -- how many register records were merged into this row
    PRIMARY KEY (area_code, org_id)
);
