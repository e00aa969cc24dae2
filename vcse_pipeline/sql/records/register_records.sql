-- Source records: every staged register row in one shape (record_shape below, filled by the staging models in
-- sql/staging) with its postcode geography, as the temporary table _register_records. It covers the whole
-- country; area selection and linking read it (register/records.py RECORDS_TABLE).
CREATE OR REPLACE TEMP TABLE _register_records AS
WITH record_shape AS (
    -- The record shape, written once: its columns in order with their types (no rows). Each staging model
    -- selects the columns its register has, by these names; the union fills the others with NULL.
    SELECT CAST(NULL AS VARCHAR) AS record_id, CAST(NULL AS VARCHAR) AS source, CAST(NULL AS VARCHAR) AS identifier,
        CAST(NULL AS VARCHAR) AS parent_identifier, CAST(NULL AS VARCHAR) AS name, CAST(NULL AS VARCHAR) AS legal_form,
        CAST(NULL AS BOOLEAN) AS is_vcse, CAST(NULL AS BOOLEAN) AS is_active, CAST(NULL AS VARCHAR) AS status,
        CAST(NULL AS VARCHAR) AS address, CAST(NULL AS VARCHAR) AS raw_postcode, CAST(NULL AS VARCHAR) AS town,
        CAST(NULL AS VARCHAR) AS website, CAST(NULL AS VARCHAR) AS email, CAST(NULL AS VARCHAR) AS phone,
        CAST(NULL AS VARCHAR) AS charity_number, CAST(NULL AS VARCHAR) AS company_number,
        CAST(NULL AS VARCHAR) AS society_number, CAST(NULL AS VARCHAR) AS raw_company_number,
        CAST(NULL AS DOUBLE) AS latest_income, CAST(NULL AS DOUBLE) AS latest_expenditure,
        CAST(NULL AS DATE) AS latest_financial_year_end, CAST(NULL AS DATE) AS date_registered,
        CAST(NULL AS DATE) AS date_removed
    LIMIT 0
),
r AS (
    SELECT * FROM record_shape
    UNION ALL BY NAME SELECT * FROM _charity_commission_records
    UNION ALL BY NAME SELECT * FROM _companies_house_records
    UNION ALL BY NAME SELECT * FROM _fca_mutuals_records
),
keyed AS (SELECT r.*, postcode_key(r.raw_postcode) AS pc_key FROM r)
SELECT k.* EXCLUDE (pc_key),
    normalise_postcode(k.raw_postcode) AS postcode,
    -- ONSPD keeps a terminated postcode with its last geography: it still places the record
    -- (postcode_status 'terminated' flags it for someone to chase the address).
    p.lad_code, p.ward_code, w.ward_name, p.lsoa_code,
    -- 32844: the LSOAs ranked by the English Indices of Deprivation 2019.
    CAST(ceil(p.imd_rank * 10.0 / 32844) AS INTEGER) AS imd_decile,
    CASE WHEN nullif(trim(coalesce(k.raw_postcode, '')), '') IS NULL THEN 'missing'
         WHEN k.pc_key IS NULL THEN 'malformed'
         WHEN p.postcode_key IS NULL THEN 'not in postcode directory'
         WHEN p.is_terminated THEN 'terminated'
         ELSE 'mapped' END AS postcode_status
FROM keyed k
LEFT JOIN postcodes.postcode p ON p.postcode_key = k.pc_key
LEFT JOIN (SELECT ward_code, any_value(ward_name) AS ward_name FROM postcodes.ward GROUP BY ward_code) w
    ON w.ward_code = p.ward_code;
