-- Each charity member's financial years from the annual return history, with parts A and B.
INSERT INTO organisation_finance
WITH pa AS (
    SELECT p.area_code, p.organisation_number, p.fin_period_end_date,
           max(p.income_from_government_contracts) AS gov_contracts,
           max(p.income_from_government_grants) AS gov_grants,
           max(p.count_volunteers) AS volunteers
    FROM _area_charity_annual_return_parta p
    SEMI JOIN _charity_member m USING (area_code, organisation_number) GROUP BY ALL
), pb AS (
    SELECT p.area_code, p.organisation_number, p.fin_period_end_date, max(p.count_employees) AS employees
    FROM _area_charity_annual_return_partb p
    SEMI JOIN _charity_member m USING (area_code, organisation_number) GROUP BY ALL
), years AS (
    SELECT m.area_code, m.org_id, h.organisation_number, CAST(h.fin_period_end_date AS DATE) AS fye,
           max(h.total_gross_income) AS income, max(h.total_gross_expenditure) AS expenditure,
           max(CAST(h.reporting_due_date AS DATE)) AS due,
           min(CAST(coalesce(h.date_annual_return_received, h.date_accounts_received) AS DATE)) AS received
    FROM _charity_member m
    JOIN _area_charity_annual_return_history h USING (area_code, organisation_number)
    WHERE h.fin_period_end_date IS NOT NULL
    GROUP BY ALL
)
SELECT y.area_code, y.org_id, 'charity_commission', y.fye, y.income, y.expenditure,
       pa.gov_contracts, pa.gov_grants, pb.employees, pa.volunteers, y.due, y.received,
       CASE WHEN y.due IS NULL THEN NULL
            ELSE coalesce(y.received, {{as_of}}) > y.due END
FROM years y
JOIN _write_areas w ON w.area_code = y.area_code
LEFT JOIN pa ON pa.area_code = y.area_code AND pa.organisation_number = y.organisation_number
            AND CAST(pa.fin_period_end_date AS DATE) = y.fye
LEFT JOIN pb ON pb.area_code = y.area_code AND pb.organisation_number = y.organisation_number
            AND CAST(pb.fin_period_end_date AS DATE) = y.fye
ORDER BY w.n, y.org_id, y.fye, y.organisation_number;
