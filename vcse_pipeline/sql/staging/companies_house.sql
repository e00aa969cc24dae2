-- Staging model: each Companies House company as the record shape's columns it has
-- (sql/records/register_records.sql leaves the rest NULL; the VCSE rule decides later which count).
-- Parameters: the [vcse] switches (register/records.py).
CREATE OR REPLACE TEMP VIEW _companies_house_records AS
SELECT
    'companies_house:' || co.company_number AS record_id,
    'companies_house' AS source,
    'GB-COH-' || co.company_number AS identifier,
    co.company_name AS name,
    company_legal_form(co.company_category) AS legal_form,
    company_is_vcse(co.company_category, {{include_community_interest_companies}},
                    {{include_companies_limited_by_guarantee}}, {{include_cios}}, {{include_registered_societies}},
                    {{include_royal_charter_companies}}) AS is_vcse,
    co.dissolution_date IS NULL
        AND NOT regexp_full_match(coalesce(co.company_status, ''), '(?i).*(dissolved|liquidation|converted|closed|removed).*')
        AS is_active,
    co.company_status AS status,
    nullif(concat_ws(', ', co.care_of, co.po_box, co.address_line1, co.address_line2, co.post_town,
                     co.county), '') AS address,
    co.postcode AS raw_postcode,
    co.post_town AS town,
    co.company_number AS company_number,
    CAST(co.incorporation_date AS DATE) AS date_registered,
    CAST(co.dissolution_date AS DATE) AS date_removed
FROM companies_house.company co;
