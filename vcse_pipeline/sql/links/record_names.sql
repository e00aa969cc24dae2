-- Every name a source record of the area is known by, for name linking and organisation_name: the registered name,
-- the charity's working and previous names, the company's previous names. Parameter $area (register/other_names.py).
-- Reads the area's staged rows (_area_<fact>, register/area_facts.py: those of the areas being built).
SELECT record_id, source, name, 'registered' AS name_type, 0 AS ord
FROM source_record WHERE area_code = $area
UNION ALL
SELECT s.record_id, s.source, o.charity_name,
       CASE lower(o.charity_name_type) WHEN 'working name' THEN 'working'
            WHEN 'previous name' THEN 'previous' ELSE 'other' END, 1 + coalesce(o.charity_name_id, 0)
FROM source_record s
JOIN _area_charity_other_names o
  ON o.area_code = s.area_code AND o.organisation_number = TRY_CAST(split_part(s.record_id, ':', 2) AS BIGINT)
WHERE s.area_code = $area AND s.source = 'charity_commission' AND o.charity_name IS NOT NULL
UNION ALL
SELECT s.record_id, s.source, p.previous_name, 'previous', 1 + coalesce(p.position, 0)
FROM source_record s
JOIN _area_company_previous_name p
  ON p.area_code = s.area_code AND p.company_number = split_part(s.record_id, ':', 2)
WHERE s.area_code = $area AND s.source = 'companies_house' AND p.previous_name IS NOT NULL
ORDER BY record_id, ord
