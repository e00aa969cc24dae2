-- Service areas with no provider based in some wards of the area, the most wards first, with those wards. Only
-- real gaps: the service area is reliably tagged (ward_service_gaps.gap; issue 13), else the register cannot tell.
SELECT service_area_label, count(*) AS wards, string_agg(ward_name, ', ' ORDER BY ward_name)
FROM ward_service_gaps WHERE area_code = $area_code AND gap = 'no provider' GROUP BY 1 ORDER BY 2 DESC, 1
