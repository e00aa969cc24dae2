-- What one refresh changed in one area, organisation by organisation (procurement/report.py, `vcse report`).
SELECT c.change_type, c.org_id, coalesce(o.name, c.org_id), c.field, c.old_value, c.new_value
FROM register_change c LEFT JOIN organisation o USING (area_code, org_id)
WHERE c.run_id = $run_id AND c.area_code = $area_code
ORDER BY c.change_type, 3, c.field
