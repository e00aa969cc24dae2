-- Active organisations based in the area's wards that no service area holds (why a gap may not be a gap).
SELECT coalesce(sum(n), 0) FROM (
    SELECT DISTINCT ward_code, organisations_without_service_area AS n
    FROM ward_service_coverage WHERE area_code = $area_code)
