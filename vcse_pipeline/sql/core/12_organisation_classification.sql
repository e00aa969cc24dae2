-- What each organisation says it does: Charity Commission what/who/how codes and SIC codes.
CREATE TABLE IF NOT EXISTS organisation_classification (
    area_code   VARCHAR NOT NULL,
    org_id      VARCHAR NOT NULL,
    scheme      VARCHAR NOT NULL,   -- 'ccew_what', 'ccew_who', 'ccew_how', 'sic' (Companies House), 'fca_sic'
    code        VARCHAR NOT NULL,
    description VARCHAR
);
