-- Staging model: each FCA Mutuals Public Register society as the record shape's columns it has
-- (sql/records/register_records.sql leaves the rest NULL).
-- Parameters: the [vcse] switches and society_types (register/records.py).
CREATE OR REPLACE TEMP VIEW _fca_mutuals_records AS
WITH typed AS (
    SELECT s.*, society_type(s.society_suffix, s.society_number, s.registered_as) AS _society_type
    FROM fca_mutuals.society s
)
SELECT
    'fca_mutuals:' || s.registration_number AS record_id,
    'fca_mutuals' AS source,
    'GB-MPR-' || s.registration_number AS identifier,
    s.society_name AS name,
    society_legal_form(s._society_type, s.registered_as) AS legal_form,
    society_is_vcse(s._society_type, s.registered_as, {{include_registered_societies}}, {{society_types}}) AS is_vcse,
    s.deregistration_date IS NULL
        AND NOT regexp_full_match(coalesce(s.society_status, ''), '(?i).*(deregist|cancel|dissolv|removed).*')
        AS is_active,
    s.society_status AS status,
    s.society_address AS address,
    s.postcode AS raw_postcode,
    -- The register gives one address string: the town is the last part that is not the postcode.
    list_filter(list_transform(string_split(coalesce(s.society_address, ''), ','), lambda x: trim(x)),
                lambda x: x <> '' AND postcode_key(x) IS NULL)[-1] AS town,
    s.registration_number AS society_number,
    CAST(s.registration_date AS DATE) AS date_registered,
    CAST(s.deregistration_date AS DATE) AS date_removed
FROM typed s;
