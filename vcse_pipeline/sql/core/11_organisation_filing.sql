-- Filing health per organisation: the regulator flags and overdue filings the procurement layer checks.
CREATE TABLE IF NOT EXISTS organisation_filing (
    area_code                  VARCHAR NOT NULL,
    org_id                     VARCHAR NOT NULL,
    charity_insolvent          BOOLEAN,
    charity_in_administration  BOOLEAN,
    charity_reporting_status   VARCHAR,   -- e.g. Submission Received, Submission Overdue, Double Default
    ch_company_status          VARCHAR,
    ch_accounts_next_due_date  DATE,
    ch_accounts_overdue        BOOLEAN,   -- next accounts due date before the build date
    ch_conf_stmt_next_due_date DATE,
    ch_conf_stmt_overdue       BOOLEAN,
    years_operating            INTEGER,   -- whole years since the earliest registration/incorporation date
    PRIMARY KEY (area_code, org_id)
);
