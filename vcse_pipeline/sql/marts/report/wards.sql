-- Active providers by ward: every ward of the area (area_ward), with zero where no provider is based, then the
-- providers no ward holds, by why ($no_ward, $no_postcode, $not_found, $outside: report.py UNPLACED, in that order).
-- Columns: ward, providers, providers in the most deprived fifth (IMD deciles 1-2), their total income.
WITH w AS (SELECT ward_code, ward_name FROM area_ward WHERE area_code = $area_code
           UNION SELECT DISTINCT ward_code, ward_name FROM provider_directory
           WHERE area_code = $area_code AND based_in_area AND ward_code IS NOT NULL),
names AS (SELECT ward_code, min(ward_name) AS ward_name FROM w GROUP BY ward_code),
counts AS (SELECT CASE WHEN d.based_in_area THEN d.ward_code END AS ward_code,
                  CASE WHEN d.based_in_area AND d.ward_code IS NOT NULL THEN NULL
                       WHEN d.based_in_area THEN $no_ward
                       WHEN o.postcode_status = 'missing' THEN $no_postcode
                       WHEN list_contains($postcode_not_found::VARCHAR[], o.postcode_status) THEN $not_found
                       ELSE $outside END AS bucket,
                  count(*) AS n, count(*) FILTER (WHERE d.imd_decile <= 2 AND d.based_in_area) AS deprived,
                  sum(d.latest_income) AS income
           FROM provider_directory d LEFT JOIN organisation o USING (area_code, org_id)
           WHERE d.area_code = $area_code GROUP BY 1, 2)
SELECT coalesce(names.ward_name, names.ward_code, c.bucket) AS ward,
       coalesce(c.n, 0), coalesce(c.deprived, 0), c.income
FROM names FULL JOIN counts c USING (ward_code)
ORDER BY names.ward_code IS NULL, list_position([$no_ward, $no_postcode, $not_found, $outside], ward), 2 DESC, 1
