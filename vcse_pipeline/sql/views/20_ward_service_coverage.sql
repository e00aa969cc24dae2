-- ward_service_coverage: for each area, ward and service area, how many active providers are based in the
-- ward (postcode in the ward) and how many operate across the whole area without a base in it (the Charity
-- Commission area of operation). Wards are every ward of the area (area_ward, from the postcode directory),
-- so a ward with no providers at all is listed too, plus any ward an organisation in the area maps to.
-- commissioned_locally is false for service areas councils do not commission ward by ward (see below).
-- reliably_tagged: the area has at least 5 active providers of the service area; with fewer, the register
-- cannot tell a ward without one from a service the tagging misses (docs/tagging.md), so no gap is called.
CREATE OR REPLACE VIEW ward_service_coverage AS
WITH wards AS (
    SELECT area_code, ward_code, ward_name FROM area_ward
    UNION
    SELECT DISTINCT area_code, ward_code, ward_name FROM organisation
    WHERE ward_code IS NOT NULL AND lad_code = area_code
), ward_names AS (
    SELECT area_code, ward_code, min(ward_name) AS ward_name FROM wards GROUP BY ALL
), active_services AS (
    SELECT o.area_code, o.org_id, o.ward_code, o.in_area_by_postcode AND o.lad_code = o.area_code AS based,
           osa.service_area
    FROM organisation o JOIN organisation_service_area osa USING (area_code, org_id)
    WHERE o.is_active
), based AS (
    SELECT area_code, ward_code, service_area, count(DISTINCT org_id) AS n
    FROM active_services WHERE based GROUP BY ALL
), area_wide AS (
    SELECT area_code, service_area, count(DISTINCT org_id) AS n
    FROM active_services WHERE NOT based GROUP BY ALL
), in_area AS (
    SELECT area_code, service_area, count(DISTINCT org_id) AS n FROM active_services GROUP BY ALL
), untagged AS (
    SELECT o.area_code, o.ward_code, count(*) AS n
    FROM organisation o ANTI JOIN organisation_service_area osa USING (area_code, org_id)
    WHERE o.is_active AND o.in_area_by_postcode AND o.lad_code = o.area_code GROUP BY ALL
)
SELECT w.area_code, w.ward_code, w.ward_name, s.service_area, s.label AS service_area_label,
       -- research, international aid, grant-making, faith, animal welfare and VCS infrastructure are not
       -- neighbourhood services a council commissions, so a ward without them is not a gap
       s.service_area NOT IN ('research', 'international', 'grant_funding', 'faith_community', 'animal_welfare',
                              'vcs_infrastructure') AS commissioned_locally,
       coalesce(b.n, 0) AS providers_based,
       coalesce(a.n, 0) AS providers_area_wide,
       coalesce(b.n, 0) + coalesce(a.n, 0) AS providers_total,
       coalesce(i.n, 0) >= 5 AS reliably_tagged,
       coalesce(u.n, 0) AS organisations_without_service_area
FROM ward_names w
CROSS JOIN service_area s
LEFT JOIN based b ON b.area_code = w.area_code AND b.ward_code = w.ward_code AND b.service_area = s.service_area
LEFT JOIN area_wide a ON a.area_code = w.area_code AND a.service_area = s.service_area
LEFT JOIN in_area i ON i.area_code = w.area_code AND i.service_area = s.service_area
LEFT JOIN untagged u ON u.area_code = w.area_code AND u.ward_code = w.ward_code;
