-- Exact links: pairs of register records that share an identifier, found by joins over _register_records
-- (nationally: the area is chosen later). Score 100; evidence is JSON naming the fields compared.
-- Methods (docs/linking.md):
-- - 'charity company number': the charity extract's charity_company_registration_number = a Companies House
--   company number (zero-padded; placeholders and malformed numbers were dropped by clean_company_number).
--   A CIO's CE/CS number there links the same way.
-- - 'society number': FCA full registration number <-> Companies House RS/IP/SP number (society_key).
-- - 'shared website' / 'shared email': the same specific website (domain + path) or email address, on no
--   generic domain and shared by at most {{max_records_sharing_contact}} records.
-- Parameters: [linking] generic_contact_domains (lower case) and max_records_sharing_contact
-- (register/exact_links.py).
CREATE OR REPLACE TEMP TABLE _exact_links AS
WITH contact AS (
    SELECT record_id, source, charity_number, 'shared website' AS method, website AS raw_value,
           website_key(website) AS value
    FROM _register_records WHERE website IS NOT NULL
    UNION ALL
    SELECT record_id, source, charity_number, 'shared email', email, email_key(email)
    FROM _register_records WHERE email IS NOT NULL
),
contact_ok AS (
    SELECT * FROM contact
    WHERE value IS NOT NULL
      AND NOT is_generic_domain(CASE WHEN method = 'shared email' THEN split_part(value, '@', 2)
                                     ELSE split_part(value, '/', 1) END, {{generic_contact_domains}})
    QUALIFY count(*) OVER (PARTITION BY method, value) BETWEEN 2 AND {{max_records_sharing_contact}}
),
society AS (
    SELECT record_id, source, coalesce(society_number, company_number) AS number,
           society_key(source, coalesce(society_number, company_number)) AS skey
    FROM _register_records WHERE source IN ('fca_mutuals', 'companies_house')
)
SELECT c.record_id AS left_record, co.record_id AS right_record,
       'charity company number' AS method, 100.0 AS score,
       CAST(json_object('charity_company_registration_number', c.raw_company_number,
                        'company_number', co.company_number) AS VARCHAR) AS evidence
FROM _register_records c
JOIN _register_records co ON co.source = 'companies_house' AND co.company_number = c.company_number
WHERE c.source = 'charity_commission'
UNION ALL
SELECT f.record_id, ch.record_id, 'society number', 100.0,
       CAST(json_object('fca_registration_number', f.number, 'company_number', ch.number,
                        'society_key', f.skey) AS VARCHAR)
FROM society f JOIN society ch ON ch.source = 'companies_house' AND ch.skey = f.skey
WHERE f.source = 'fca_mutuals' AND f.skey IS NOT NULL
UNION ALL
SELECT a.record_id, b.record_id, a.method, 100.0,
       CAST(json_object('field', CASE a.method WHEN 'shared email' THEN 'email' ELSE 'website' END,
                        'left_value', a.raw_value, 'right_value', b.raw_value,
                        'normalised', a.value) AS VARCHAR)
FROM contact_ok a JOIN contact_ok b ON a.method = b.method AND a.value = b.value
     AND a.record_id < b.record_id
-- a main charity and its linked charities share contact details but are separate entries
WHERE a.charity_number IS DISTINCT FROM b.charity_number OR a.source <> b.source;
