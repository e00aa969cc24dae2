-- Staging model: each Charity Commission extract row (main and linked charities) as the record
-- shape's columns it has (sql/records/register_records.sql leaves the rest NULL).
-- Parameters: the [vcse] switches and [linking] placeholder_company_numbers (register/records.py).
CREATE OR REPLACE TEMP VIEW _charity_commission_records AS
SELECT
    'charity_commission:' || c.organisation_number AS record_id,
    'charity_commission' AS source,
    'GB-CHC-' || c.registered_charity_number
        || CASE WHEN coalesce(c.linked_charity_number, 0) <> 0 THEN '-' || c.linked_charity_number ELSE '' END
        AS identifier,
    CASE WHEN coalesce(c.linked_charity_number, 0) <> 0 THEN 'GB-CHC-' || c.registered_charity_number END
        AS parent_identifier,
    c.charity_name AS name,
    charity_legal_form(c.linked_charity_number, c.charity_is_cio, c.charity_type) AS legal_form,
    charity_is_vcse(c.linked_charity_number, c.charity_is_cio, c.charity_type,
                    {{include_linked_charities}}, {{include_cios}}, {{include_charities}}) AS is_vcse,
    coalesce(c.charity_registration_status = 'Registered' AND c.date_of_removal IS NULL, FALSE) AS is_active,
    c.charity_registration_status AS status,
    nullif(concat_ws(', ', c.charity_contact_address1, c.charity_contact_address2, c.charity_contact_address3,
                     c.charity_contact_address4, c.charity_contact_address5), '') AS address,
    c.charity_contact_postcode AS raw_postcode,
    -- The extract has no town field: the last address line before the postcode is usually the town.
    coalesce(c.charity_contact_address5, c.charity_contact_address4, c.charity_contact_address3,
             c.charity_contact_address2) AS town,
    c.charity_contact_web AS website,
    c.charity_contact_email AS email,
    c.charity_contact_phone AS phone,
    CAST(c.registered_charity_number AS VARCHAR) AS charity_number,
    clean_company_number(c.charity_company_registration_number, {{placeholder_company_numbers}}) AS company_number,
    CAST(c.charity_company_registration_number AS VARCHAR) AS raw_company_number,
    CAST(c.latest_income AS DOUBLE) AS latest_income,
    CAST(c.latest_expenditure AS DOUBLE) AS latest_expenditure,
    CAST(c.latest_acc_fin_period_end_date AS DATE) AS latest_financial_year_end,
    CAST(c.date_of_registration AS DATE) AS date_registered,
    CAST(c.date_of_removal AS DATE) AS date_removed
FROM charity_commission.charity c;
