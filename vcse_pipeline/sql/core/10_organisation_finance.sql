-- Annual finances per organisation and financial year, copied from the Charity Commission annual returns so
-- the published register is self-contained. Built by vcse_pipeline.register.enrich.
CREATE TABLE IF NOT EXISTS organisation_finance (
    area_code                   VARCHAR NOT NULL,
    org_id                      VARCHAR NOT NULL,
    source                      VARCHAR NOT NULL,  -- charity_commission
    financial_year_end          DATE NOT NULL,
    income                      DOUBLE,
    expenditure                 DOUBLE,
    income_government_contracts DOUBLE,            -- annual return part A (larger charities only)
    income_government_grants    DOUBLE,
    employees                   BIGINT,            -- part B count_employees
    volunteers                  BIGINT,            -- part A count_volunteers
    date_due                    DATE,
    date_received               DATE,
    received_late               BOOLEAN            -- received after the due date, or still missing after it
);
