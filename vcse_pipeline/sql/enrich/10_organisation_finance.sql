-- Each charity member's financial years from the annual return history, with parts A and B.
INSERT INTO organisation_finance
WITH pa AS (
    SELECT organisation_number, fin_period_end_date,
           max(income_from_government_contracts) AS gov_contracts,
           max(income_from_government_grants) AS gov_grants,
           max(count_volunteers) AS volunteers
    FROM _area_charity_annual_return_parta
    WHERE organisation_number IN (SELECT organisation_number FROM _charity_member) GROUP BY ALL
), pb AS (
    SELECT organisation_number, fin_period_end_date, max(count_employees) AS employees
    FROM _area_charity_annual_return_partb
    WHERE organisation_number IN (SELECT organisation_number FROM _charity_member) GROUP BY ALL
), years AS (
    SELECT m.org_id, h.organisation_number, CAST(h.fin_period_end_date AS DATE) AS fye,
           max(h.total_gross_income) AS income, max(h.total_gross_expenditure) AS expenditure,
           max(CAST(h.reporting_due_date AS DATE)) AS due,
           min(CAST(coalesce(h.date_annual_return_received, h.date_accounts_received) AS DATE)) AS received
    FROM _charity_member m
    JOIN _area_charity_annual_return_history h USING (organisation_number)
    WHERE h.fin_period_end_date IS NOT NULL
    GROUP BY ALL
)
SELECT {{area_code}}, y.org_id, 'charity_commission', y.fye, y.income, y.expenditure,
       pa.gov_contracts, pa.gov_grants, pb.employees, pa.volunteers, y.due, y.received,
       CASE WHEN y.due IS NULL THEN NULL
            ELSE coalesce(y.received, {{as_of}}) > y.due END
FROM years y
LEFT JOIN pa ON pa.organisation_number = y.organisation_number
            AND CAST(pa.fin_period_end_date AS DATE) = y.fye
LEFT JOIN pb ON pb.organisation_number = y.organisation_number
            AND CAST(pb.fin_period_end_date AS DATE) = y.fye
ORDER BY y.org_id, y.fye, y.organisation_number;
