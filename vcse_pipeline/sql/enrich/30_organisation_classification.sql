-- Classifications per organisation: the charity extract's what/who/how, Companies House SIC codes and the FCA's
-- SIC code.
INSERT INTO organisation_classification
SELECT DISTINCT {{area_code}}, m.org_id, 'ccew_' || lower(c.classification_type),
       CAST(c.classification_code AS VARCHAR), c.classification_description
FROM _charity_member m
JOIN _area_charity_classification c USING (organisation_number)
WHERE c.classification_code IS NOT NULL AND lower(c.classification_type) IN ('what', 'who', 'how')
UNION
SELECT {{area_code}}, m.org_id, 'sic', s.sic_code, s.sic_description
FROM _org_member m JOIN _area_company_sic s ON s.company_number = split_part(m.record_id, ':', 2)
WHERE m.source = 'companies_house' AND s.sic_code IS NOT NULL
UNION
SELECT {{area_code}}, m.org_id, 'fca_sic', CAST(s.sic_code AS VARCHAR), NULL
FROM _org_member m JOIN _area_society s ON s.registration_number = split_part(m.record_id, ':', 2)
WHERE m.source = 'fca_mutuals' AND s.sic_code IS NOT NULL
ORDER BY ALL;
