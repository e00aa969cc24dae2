-- The service areas too thinly tagged in the area to call a ward without one a gap (ward_service_gaps.gap).
SELECT string_agg(DISTINCT service_area_label, ', ' ORDER BY service_area_label)
FROM ward_service_gaps WHERE area_code = $area_code AND gap = 'cannot tell'
