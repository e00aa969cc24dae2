-- organisation_finance_year: one row per organisation and financial year. An organisation of several charities (a
-- main charity and its linked charities, or a charity and its successor) has a return from each for the same year:
-- the one with the larger income stands for the year (then expenditure and the other columns, so the choice never
-- depends on the order the rows were written). provider_directory and provider_readiness read finances from here.
CREATE OR REPLACE VIEW organisation_finance_year AS
SELECT *
FROM organisation_finance
QUALIFY row_number() OVER (
    PARTITION BY area_code, org_id, financial_year_end
    ORDER BY income DESC NULLS LAST, expenditure DESC NULLS LAST, date_received DESC NULLS LAST, source,
             income_government_contracts DESC NULLS LAST, income_government_grants DESC NULLS LAST,
             employees DESC NULLS LAST, volunteers DESC NULLS LAST, date_due DESC NULLS LAST, received_late) = 1;
