-- Active providers of the area by readiness level, in the view's order (ready first).
SELECT readiness_level, count(*) FROM provider_readiness WHERE area_code = $area_code GROUP BY 1
ORDER BY min(readiness_rank)
