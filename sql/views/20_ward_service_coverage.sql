-- ward_service_coverage: for each area, ward and service area, how many active providers are based in the
-- ward (postcode in the ward) and how many operate across the whole area without a base in it (the Charity
-- Commission area of operation). Wards are those the register has seen in the area (any organisation or
-- source record whose postcode maps there); every service area appears for every ward, with zero counts.
CREATE OR REPLACE VIEW ward_service_coverage AS
WITH wards AS (
    SELECT DISTINCT area_code, ward_code, ward_name FROM organisation
    WHERE ward_code IS NOT NULL AND lad_code = area_code
    UNION
    SELECT DISTINCT area_code, ward_code, ward_name FROM source_record
    WHERE ward_code IS NOT NULL AND lad_code = area_code
), ward_names AS (
    SELECT area_code, ward_code, min(ward_name) AS ward_name FROM wards GROUP BY ALL
), active_services AS (
    SELECT o.area_code, o.org_id, o.ward_code, o.in_area_by_postcode, osa.service_area
    FROM organisation o JOIN organisation_service_area osa USING (area_code, org_id)
    WHERE o.is_active
), based AS (
    SELECT area_code, ward_code, service_area, count(DISTINCT org_id) AS n
    FROM active_services WHERE in_area_by_postcode GROUP BY ALL
), area_wide AS (
    SELECT area_code, service_area, count(DISTINCT org_id) AS n
    FROM active_services WHERE NOT in_area_by_postcode GROUP BY ALL
)
SELECT w.area_code, w.ward_code, w.ward_name, s.service_area, s.label AS service_area_label,
       coalesce(b.n, 0) AS providers_based,
       coalesce(a.n, 0) AS providers_area_wide,
       coalesce(b.n, 0) + coalesce(a.n, 0) AS providers_total
FROM ward_names w
CROSS JOIN service_area s
LEFT JOIN based b ON b.area_code = w.area_code AND b.ward_code = w.ward_code AND b.service_area = s.service_area
LEFT JOIN area_wide a ON a.area_code = w.area_code AND a.service_area = s.service_area;
