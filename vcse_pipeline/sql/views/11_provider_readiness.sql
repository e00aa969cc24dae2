-- provider_readiness: readiness indicators from public data for each ACTIVE organisation, and an overall
-- level with the reasons. Each indicator is explained in docs/data-dictionary.md; the thresholds in
-- docs/procurement.md. Governance: regulator flags, company status, filing on time. Finances and
-- sustainability: income band and trend, government income. Operations: years operating, staff, volunteers.
CREATE OR REPLACE VIEW provider_readiness AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY area_code, org_id ORDER BY financial_year_end DESC) AS rn,
           count(*) OVER (PARTITION BY area_code, org_id) AS years_reported
    FROM organisation_finance_year   -- one row a year, so rn ranks years and years_reported counts them
), fin AS (
    SELECT area_code, org_id,
           any_value(years_reported) AS years_reported,
           max(financial_year_end) AS latest_return_year_end,
           any_value(income) FILTER (WHERE rn = 1) AS latest_return_income,
           -- the base for the trend: two years before the latest (or the oldest of the last three)
           arg_max(income, rn) FILTER (WHERE rn <= 3) AS trend_base_income,
           any_value(income_government_contracts) FILTER (WHERE rn = 1) AS income_government_contracts,
           any_value(income_government_grants) FILTER (WHERE rn = 1) AS income_government_grants,
           any_value(received_late) FILTER (WHERE rn = 1) AS latest_return_late,
           count(*) FILTER (WHERE rn <= 3 AND received_late) AS late_returns_last_3_years,
           arg_max(employees, financial_year_end) FILTER (WHERE employees IS NOT NULL) AS employees,
           arg_max(volunteers, financial_year_end) FILTER (WHERE volunteers IS NOT NULL) AS volunteers
    FROM ranked GROUP BY ALL
), base AS (
    SELECT
        o.area_code, o.org_id, o.name, o.legal_form,
        coalesce(o.latest_income, fin.latest_return_income) AS latest_income,
        CASE
            WHEN coalesce(o.latest_income, fin.latest_return_income) IS NULL THEN 'unknown'
            WHEN coalesce(o.latest_income, fin.latest_return_income) < 10000 THEN 'under £10k'
            WHEN coalesce(o.latest_income, fin.latest_return_income) < 100000 THEN '£10k-£100k'
            WHEN coalesce(o.latest_income, fin.latest_return_income) < 1000000 THEN '£100k-£1m'
            ELSE 'over £1m' END AS income_band,
        CASE
            WHEN coalesce(fin.years_reported, 0) < 2 OR fin.latest_return_income IS NULL
                 OR fin.trend_base_income IS NULL THEN 'unknown'
            WHEN fin.trend_base_income = 0 THEN CASE WHEN fin.latest_return_income > 0 THEN 'growing' ELSE 'stable' END
            WHEN fin.latest_return_income > fin.trend_base_income * 1.1 THEN 'growing'
            WHEN fin.latest_return_income < fin.trend_base_income * 0.9 THEN 'falling'
            ELSE 'stable' END AS income_trend,
        fin.trend_base_income,
        coalesce(fin.years_reported, 0) AS years_reported,
        fin.latest_return_year_end,
        fin.latest_return_late,
        coalesce(fin.late_returns_last_3_years, 0) AS late_returns_last_3_years,
        fin.income_government_contracts,
        fin.income_government_grants,
        fin.employees,
        fin.volunteers,
        f.years_operating,
        f.charity_insolvent,
        f.charity_in_administration,
        f.charity_reporting_status,
        f.ch_company_status,
        f.ch_accounts_overdue,
        f.ch_conf_stmt_overdue,
        -- organisation_filing has a row for every organisation (its years_operating), so what counts is content:
        -- an annual return, or a Charity Commission or Companies House record. A registered society has neither.
        (fin.org_id IS NOT NULL OR f.charity_insolvent IS NOT NULL OR f.charity_in_administration IS NOT NULL
         OR f.charity_reporting_status IS NOT NULL OR f.ch_company_status IS NOT NULL
         OR f.ch_accounts_next_due_date IS NOT NULL OR f.ch_conf_stmt_next_due_date IS NOT NULL) AS has_filing_data
    FROM organisation o
    LEFT JOIN fin USING (area_code, org_id)
    LEFT JOIN organisation_filing f USING (area_code, org_id)
    WHERE o.is_active
), flagged AS (
    SELECT *,
        list_filter([
            CASE WHEN charity_insolvent THEN 'Charity Commission: insolvent' END,
            CASE WHEN charity_in_administration THEN 'Charity Commission: in administration' END,
            CASE WHEN ch_company_status IS NOT NULL AND ch_company_status <> 'Active'
                 THEN 'Companies House status: ' || ch_company_status END,
            CASE WHEN charity_reporting_status ILIKE '%double default%'
                 THEN 'Charity Commission: double default (two or more years of accounts missing)' END
        ], lambda x: x IS NOT NULL) AS red_flags,
        list_filter([
            CASE WHEN charity_reporting_status ILIKE '%overdue%' THEN 'Charity Commission: submission overdue' END,
            CASE WHEN latest_return_late THEN 'latest annual return filed late' END,
            CASE WHEN late_returns_last_3_years >= 2 THEN 'annual return late in ' || late_returns_last_3_years
                 || ' of the last 3 years' END,
            CASE WHEN ch_accounts_overdue THEN 'Companies House accounts overdue' END,
            CASE WHEN ch_conf_stmt_overdue THEN 'Companies House confirmation statement overdue' END,
            CASE WHEN income_trend = 'falling' THEN 'income falling' END,
            CASE WHEN years_operating IS NOT NULL AND years_operating < 2
                 THEN 'operating for less than 2 years' END
        ], lambda x: x IS NOT NULL) AS amber_flags
    FROM base
)
SELECT
    area_code, org_id, name, legal_form, latest_income, income_band, income_trend, trend_base_income,
    years_reported, latest_return_year_end, latest_return_late, late_returns_last_3_years,
    income_government_contracts, income_government_grants, employees, volunteers, years_operating,
    charity_insolvent, charity_in_administration, charity_reporting_status, ch_company_status,
    ch_accounts_overdue, ch_conf_stmt_overdue,
    CASE WHEN len(red_flags) > 0 THEN 'not ready'
         WHEN len(amber_flags) > 0 THEN 'caution'
         WHEN NOT has_filing_data AND latest_income IS NULL THEN 'unknown'
         ELSE 'ready' END AS readiness_level,
    CASE WHEN len(red_flags) > 0 THEN 4 WHEN len(amber_flags) > 0 THEN 2
         WHEN NOT has_filing_data AND latest_income IS NULL THEN 3 ELSE 1 END AS readiness_rank,
    CASE WHEN len(red_flags) + len(amber_flags) > 0 THEN list_concat(red_flags, amber_flags)
         WHEN NOT has_filing_data AND latest_income IS NULL THEN ['no filing or finance data in the public registers']
         ELSE list_filter([
             'no regulator flags',
             -- one late return in three is no amber flag, but the returns were not all on time
             CASE WHEN NOT latest_return_late AND late_returns_last_3_years = 0 THEN 'annual returns on time'
                  WHEN NOT latest_return_late AND late_returns_last_3_years = 1
                  THEN 'latest annual return on time, but 1 of the last 3 late' END,
             CASE WHEN income_trend IN ('growing', 'stable') THEN 'income ' || income_trend END,
             CASE WHEN years_operating >= 2 THEN years_operating || ' years operating' END
         ], lambda x: x IS NOT NULL) END AS readiness_reasons
FROM flagged;
