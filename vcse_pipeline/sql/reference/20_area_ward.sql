-- Each area's wards with their number of live postcodes.
INSERT INTO area_ward
SELECT p.lad_code, p.ward_code, any_value(w.ward_name), count(*)
FROM postcodes.postcode p LEFT JOIN postcodes.ward w USING (ward_code)
JOIN _write_areas a ON a.area_code = p.lad_code
WHERE NOT p.is_terminated AND p.ward_code IS NOT NULL
GROUP BY a.n, p.lad_code, p.ward_code
ORDER BY a.n, p.ward_code;
