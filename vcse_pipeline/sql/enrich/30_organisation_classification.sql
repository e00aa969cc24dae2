-- Classifications per organisation: the charity extract's what/who/how, Companies House SIC codes and the FCA's
-- SIC code.
INSERT INTO organisation_classification
SELECT c.area_code, c.org_id, c.scheme, c.code, c.description
FROM (
    SELECT DISTINCT m.area_code, m.org_id, 'ccew_' || lower(c.classification_type) AS scheme,
           CAST(c.classification_code AS VARCHAR) AS code, c.classification_description AS description
    FROM _charity_member m
    JOIN _area_charity_classification c USING (area_code, organisation_number)
    WHERE c.classification_code IS NOT NULL AND lower(c.classification_type) IN ('what', 'who', 'how')
    UNION
    SELECT m.area_code, m.org_id, 'sic', s.sic_code, s.sic_description
    FROM _org_member m
    JOIN _area_company_sic s ON s.area_code = m.area_code AND s.company_number = split_part(m.record_id, ':', 2)
    WHERE m.source = 'companies_house' AND s.sic_code IS NOT NULL
    UNION
    SELECT m.area_code, m.org_id, 'fca_sic', CAST(s.sic_code AS VARCHAR), NULL
    FROM _org_member m
    JOIN _area_society s ON s.area_code = m.area_code AND s.registration_number = split_part(m.record_id, ':', 2)
    WHERE m.source = 'fca_mutuals' AND s.sic_code IS NOT NULL
) c
JOIN _write_areas w USING (area_code)
ORDER BY w.n, c.org_id, c.scheme, c.code, c.description;
