-- Service areas with no provider based in some wards of the area, the most wards first, with those wards.
SELECT service_area_label, count(*) AS wards, string_agg(ward_name, ', ' ORDER BY ward_name)
FROM ward_service_gaps WHERE area_code = $area_code AND providers_based = 0 GROUP BY 1 ORDER BY 2 DESC, 1
