-- Filing health per organisation: the canonical charity's regulator flags, the canonical company's status and
-- due dates (overdue only while a company member is live), and years operating since the first registration.
INSERT INTO organisation_filing
WITH ch AS (
    SELECT m.area_code, m.org_id, arg_min(c.charity_insolvent, m.member_rank) AS insolvent,
           arg_min(c.charity_in_administration, m.member_rank) AS in_administration,
           arg_min(c.charity_reporting_status, m.member_rank) AS reporting_status
    FROM _charity_member m
    JOIN _area_charity c USING (area_code, organisation_number)
    GROUP BY m.area_code, m.org_id
), co AS (
    SELECT m.area_code, m.org_id, arg_min(c.company_status, m.member_rank) AS status,
           arg_min(CAST(c.accounts_next_due_date AS DATE), m.member_rank) AS accounts_due,
           arg_min(CAST(c.conf_stmt_next_due_date AS DATE), m.member_rank) AS conf_due,
           bool_or(c.dissolution_date IS NULL) AS live
    FROM _org_member m
    JOIN _area_company c ON c.area_code = m.area_code AND c.company_number = split_part(m.record_id, ':', 2)
    WHERE m.source = 'companies_house'
    GROUP BY m.area_code, m.org_id
), started AS (
    SELECT m.area_code, m.org_id, min(s.date_registered) AS first_date
    FROM _org_member m JOIN source_record s ON s.area_code = m.area_code AND s.record_id = m.record_id
    GROUP BY m.area_code, m.org_id
)
SELECT o.area_code, o.org_id, ch.insolvent, ch.in_administration, ch.reporting_status,
       co.status, co.accounts_due, co.live AND co.accounts_due < {{as_of}},
       co.conf_due, co.live AND co.conf_due < {{as_of}},
       CAST(date_diff('year', started.first_date, {{as_of}})
            - CASE WHEN strftime({{as_of}}, '%m%d') < strftime(started.first_date, '%m%d')
                   THEN 1 ELSE 0 END AS INTEGER)
FROM (SELECT DISTINCT area_code, org_id FROM _org_member) o
JOIN _write_areas w USING (area_code)
LEFT JOIN ch USING (area_code, org_id) LEFT JOIN co USING (area_code, org_id) LEFT JOIN started USING (area_code, org_id)
ORDER BY w.n, o.org_id;
