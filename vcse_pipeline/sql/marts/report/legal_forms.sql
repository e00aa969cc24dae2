-- Active providers of the area by legal form, the largest first.
SELECT legal_form, count(*) FROM provider_directory WHERE area_code = $area_code GROUP BY 1 ORDER BY 2 DESC, 1
