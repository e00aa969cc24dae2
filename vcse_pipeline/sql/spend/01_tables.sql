-- The spend database (data/spend/spend.duckdb): loaded files, their payment lines, the declared tier-2 spend and
-- the settings the measures read. Described in docs/data-dictionary.md ("Local spend").

-- A file is known by its source (URL or full path: two files of one name from two places are two files); `file`
-- is its name for people. A database from before sources is moved onto them by spend/load.open_spend_db.
CREATE TABLE IF NOT EXISTS spend_file (
    file VARCHAR, sha256 VARCHAR, kind VARCHAR, layout VARCHAR, amount_basis VARCHAR,
    encoding VARCHAR, header_row INTEGER, line_count INTEGER, loaded_at TIMESTAMP, source VARCHAR PRIMARY KEY);

CREATE TABLE IF NOT EXISTS spend_line (
    file VARCHAR, row_number INTEGER, kind VARCHAR, payment_date DATE, amount DECIMAL(18, 2),
    amount_basis VARCHAR, vat DECIMAL(18, 2), is_credit BOOLEAN, supplier_name VARCHAR, supplier_id VARCHAR,
    company_number VARCHAR, charity_number VARCHAR, supplier_postcode VARCHAR, expense_area VARCHAR,
    expense_type VARCHAR, description VARCHAR, transaction_ref VARCHAR, is_redacted BOOLEAN, supplier_key VARCHAR,
    source VARCHAR, sheet VARCHAR);
-- Added after the first release: a database from before them gains them here.
ALTER TABLE spend_line ADD COLUMN IF NOT EXISTS source VARCHAR;
ALTER TABLE spend_line ADD COLUMN IF NOT EXISTS sheet VARCHAR;

CREATE TABLE IF NOT EXISTS spend_tier2 (
    supplier VARCHAR, financial_year VARCHAR, local_amount DECIMAL(18, 2), file VARCHAR, row_number INTEGER);

-- Written by every run (spend/measures.apply_settings) from [spend].
CREATE TABLE IF NOT EXISTS spend_definition (definition VARCHAR, label VARCHAR, scheme VARCHAR, code VARCHAR);
CREATE TABLE IF NOT EXISTS spend_setting (target_share DOUBLE, excluded_kinds VARCHAR[], top_suppliers INTEGER);
