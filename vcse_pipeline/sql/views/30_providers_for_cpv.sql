-- CPV helpers for tools that match contract notices to providers.
-- cpv_stem(code): the CPV code without its check digit and trailing zeros ("85300000-2" -> "853"), which is
-- how CPV encodes its hierarchy (division 85, group 853, class 8531, ...); never shorter than the division.
CREATE OR REPLACE MACRO cpv_stem(code) AS (
    CASE WHEN length(regexp_replace(split_part(coalesce(code, ''), '-', 1), '[^0-9]', '', 'g')) >= 2
         THEN left(regexp_replace(split_part(code, '-', 1), '[^0-9]', '', 'g'), 2)
              || rtrim(substr(regexp_replace(split_part(code, '-', 1), '[^0-9]', '', 'g'), 3, 6), '0') END
);

-- providers_for_cpv(code): active providers whose service area maps to the CPV code, by prefix: 'within'
-- when the notice code sits inside a mapped CPV category, 'broader' when the notice code is a wider
-- category that contains a mapped one. SELECT * FROM providers_for_cpv('85312000') WHERE area_code = ...
CREATE OR REPLACE MACRO providers_for_cpv(code) AS TABLE
    WITH matched AS (
        SELECT m.service_area, m.cpv_code AS matched_cpv,
               CASE WHEN starts_with(cpv_stem(code), cpv_stem(m.cpv_code)) THEN 'within' ELSE 'broader' END AS how
        FROM service_area_cpv m
        WHERE (starts_with(cpv_stem(code), cpv_stem(m.cpv_code)) OR starts_with(cpv_stem(m.cpv_code), cpv_stem(code)))
    ), best AS (
        SELECT service_area, arg_min(matched_cpv, how = 'broader') AS matched_cpv, min(how) FILTER (WHERE how = 'within')
               IS NOT NULL AS is_within
        FROM matched GROUP BY service_area
    )
    SELECT d.area_code, d.org_id, d.name, d.legal_form, d.ward_name, d.area_basis, d.latest_income,
           b.service_area, b.matched_cpv, CASE WHEN b.is_within THEN 'within' ELSE 'broader' END AS how,
           r.readiness_level
    FROM best b
    JOIN organisation_service_area osa ON osa.service_area = b.service_area
    JOIN provider_directory d ON d.area_code = osa.area_code AND d.org_id = osa.org_id
    LEFT JOIN provider_readiness r ON r.area_code = d.area_code AND r.org_id = d.org_id
    ORDER BY b.is_within DESC, r.readiness_rank, d.latest_income DESC NULLS LAST, d.name;
