-- The providers to check before commissioning: not ready or caution (report.py check_first orders them).
SELECT name, readiness_level, readiness_reasons, latest_income, readiness_rank FROM provider_readiness
WHERE area_code = $area_code AND readiness_level IN ('not ready', 'caution')
