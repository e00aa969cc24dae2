-- Tagging (docs/tagging.md): what each organisation does, with the evidence, and the service-area taxonomy.
CREATE TABLE IF NOT EXISTS organisation_tag (
    area_code     VARCHAR NOT NULL,
    org_id        VARCHAR NOT NULL,
    code          VARCHAR NOT NULL,   -- UKCAT code, CC classification code, SIC code, or FCA classification
    tag_scheme    VARCHAR NOT NULL,   -- 'ukcat' | 'ccew_classification' | 'sic' | 'fca'
    source_field  VARCHAR NOT NULL,   -- e.g. name, activities, objects, other_names, charity_classification
    evidence      VARCHAR NOT NULL,   -- matched text snippet, model words, register value, or "implied by X"
    method        VARCHAR NOT NULL    -- 'regex' | 'model' | 'register'
);
CREATE TABLE IF NOT EXISTS organisation_service_area (
    area_code     VARCHAR NOT NULL,
    org_id        VARCHAR NOT NULL,
    service_area  VARCHAR NOT NULL,   -- service_area.service_area
    evidence      VARCHAR NOT NULL,   -- what put it there, e.g. "model 0.71; ukcat:HE210 (activities); sic:88100 (generic)"
    strength      DOUBLE NOT NULL     -- 0-1: the model's area score for text, else the strongest specific evidence
);
-- The UKCAT tags used for this build (staged copy when present, else the packaged one).
CREATE TABLE IF NOT EXISTS ukcat_tag (
    code VARCHAR PRIMARY KEY, tag VARCHAR, category VARCHAR, subcategory VARCHAR, level INTEGER, notes VARCHAR,
    related_icnptso VARCHAR, regex VARCHAR, exclude_regex VARCHAR
);
CREATE TABLE IF NOT EXISTS service_area (
    service_area VARCHAR PRIMARY KEY,
    label        VARCHAR NOT NULL,
    description  VARCHAR
);
CREATE TABLE IF NOT EXISTS service_area_cpv (
    service_area VARCHAR NOT NULL,
    cpv_code     VARCHAR NOT NULL,    -- 8 digits, no check digit
    cpv_label    VARCHAR
);
-- The rules that define each service area: one row per (scheme, code) that puts an organisation in it.
CREATE TABLE IF NOT EXISTS service_area_rule (
    service_area VARCHAR NOT NULL,
    tag_scheme   VARCHAR NOT NULL,    -- 'ukcat' | 'ccew_classification' | 'sic' (prefix) | 'fca' (word)
    code         VARCHAR NOT NULL
);
