-- Active providers of the area by service area (a provider counts once in each of its service areas).
SELECT coalesce(s.label, u.sa), count(*)
FROM (SELECT unnest(service_areas) AS sa FROM provider_directory WHERE area_code = $area_code) u
LEFT JOIN service_area s ON s.service_area = u.sa
GROUP BY 1 ORDER BY 2 DESC, 1
