-- provider_directory: one row per ACTIVE organisation per area, everything a commissioner needs to find and
-- contact a provider, with links to the source register pages. Documented in docs/data-dictionary.md.
-- ward_code/ward_name are where the provider is based, which for a provider based outside the area (based_in_area
-- false) is a ward elsewhere. A provider whose postcode ONS has terminated is placed by that postcode's last
-- geography (based in the area, in its ward) and flagged postcode_terminated: its address needs checking.
-- FCA links use the numeric society number (the digits of the full registration number, "12345R" -> 12345),
-- which is what the Mutuals Public Register's society page is keyed on.
CREATE OR REPLACE VIEW provider_directory AS
WITH ids AS (
    SELECT area_code, org_id, list(identifier ORDER BY is_canonical DESC, identifier) AS identifiers
    FROM organisation_identifier GROUP BY ALL
), other_names AS (
    SELECT n.area_code, n.org_id, list_sort(list_distinct(list(n.name))) AS other_names
    FROM organisation_name n JOIN organisation o USING (area_code, org_id)
    WHERE upper(n.name) <> upper(o.name)
    GROUP BY ALL
), services AS (
    SELECT osa.area_code, osa.org_id,
           list_sort(list_distinct(list(osa.service_area))) AS service_areas,
           list_sort(list_distinct(list(coalesce(sa.label, osa.service_area)))) AS service_area_labels
    FROM organisation_service_area osa LEFT JOIN service_area sa USING (service_area)
    GROUP BY ALL
), people AS (
    -- the most recent year that reports each count (part B employees are only filed by larger charities)
    SELECT area_code, org_id,
           arg_max(employees, financial_year_end) FILTER (WHERE employees IS NOT NULL) AS employees,
           arg_max(volunteers, financial_year_end) FILTER (WHERE volunteers IS NOT NULL) AS volunteers
    FROM organisation_finance_year GROUP BY ALL
)
SELECT
    o.area_code,
    o.org_id,
    o.name,
    o.legal_form,
    coalesce(ids.identifiers, [o.org_id]) AS identifiers,
    coalesce(other_names.other_names, []::VARCHAR[]) AS other_names,
    o.address,
    o.postcode,
    split_part(o.postcode, ' ', 1) AS postcode_district,
    coalesce(o.postcode_status = 'terminated', FALSE) AS postcode_terminated,
    o.ward_code,
    o.ward_name,
    o.lad_code,
    o.imd_decile,
    o.area_basis,
    -- based in the area (its postcode is there, live or terminated), not only operating in it from elsewhere
    coalesce(o.in_area_by_postcode AND o.lad_code = o.area_code, FALSE) AS based_in_area,
    o.website,
    o.email,
    o.phone,
    coalesce(services.service_areas, []::VARCHAR[]) AS service_areas,
    coalesce(services.service_area_labels, []::VARCHAR[]) AS service_area_labels,
    o.latest_income,
    o.latest_expenditure,
    o.latest_financial_year_end,
    people.employees,
    people.volunteers,
    o.date_registered,
    CASE WHEN o.charity_number IS NOT NULL THEN
        'https://register-of-charities.charitycommission.gov.uk/charity-search/-/charity-details/'
        || o.charity_number END AS charity_commission_url,
    CASE WHEN o.company_number IS NOT NULL THEN
        'https://find-and-update.company-information.service.gov.uk/company/' || o.company_number
        END AS companies_house_url,
    CASE WHEN regexp_extract(o.society_number, '^[0-9]+') <> '' THEN
        'https://mutuals.fca.org.uk/Search/Society/' || CAST(CAST(regexp_extract(o.society_number, '^[0-9]+') AS BIGINT) AS VARCHAR)
        END AS fca_mutuals_url
FROM organisation o
LEFT JOIN ids USING (area_code, org_id)
LEFT JOIN other_names USING (area_code, org_id)
LEFT JOIN services USING (area_code, org_id)
LEFT JOIN people USING (area_code, org_id)
WHERE o.is_active;
