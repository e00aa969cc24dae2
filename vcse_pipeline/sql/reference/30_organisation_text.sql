-- The charity extract's activities and objects of each charity member, which tagging reads.
INSERT INTO organisation_text
SELECT i.area_code, i.org_id, i.record_id, c.charity_activities, g.charitable_objects
FROM organisation_identifier i
JOIN _area_charity c
  ON c.organisation_number = TRY_CAST(split_part(i.record_id, ':', 2) AS BIGINT)
LEFT JOIN _area_charity_governing_document g
  ON g.organisation_number = c.organisation_number
WHERE i.area_code = {{area_code}} AND i.source = 'charity_commission'
  AND (c.charity_activities IS NOT NULL OR g.charitable_objects IS NOT NULL)
ORDER BY i.org_id, i.record_id;
