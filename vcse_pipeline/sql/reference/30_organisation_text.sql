-- The charity extract's activities and objects of each charity member, which tagging reads.
INSERT INTO organisation_text
SELECT i.area_code, i.org_id, i.record_id, c.charity_activities, g.charitable_objects
FROM organisation_identifier i
JOIN _write_areas a USING (area_code)
JOIN _area_charity c
  ON c.area_code = i.area_code AND c.organisation_number = TRY_CAST(split_part(i.record_id, ':', 2) AS BIGINT)
LEFT JOIN _area_charity_governing_document g
  ON g.area_code = c.area_code AND g.organisation_number = c.organisation_number
WHERE i.source = 'charity_commission'
  AND (c.charity_activities IS NOT NULL OR g.charitable_objects IS NOT NULL)
ORDER BY a.n, i.org_id, i.record_id;
