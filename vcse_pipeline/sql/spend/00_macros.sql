-- Macros that type and clean the text of published payment files (vcse_pipeline/spend/load.py).

-- A label that means "nothing": spreadsheet errors, placeholders. Else the trimmed text, or NULL when blank.
CREATE OR REPLACE MACRO spend_text(t) AS
    CASE WHEN upper(trim(t)) IN ('', '#N/A', 'N/A', '#REF!', '#VALUE!', '#NAME?', 'NULL', '-', 'NONE') THEN NULL
         ELSE trim(t) END;

-- An amount's text without what may surround or separate its digits: "£", "GBP", thousands commas, spaces.
CREATE OR REPLACE MACRO spend_amount_digits(t) AS
    regexp_replace(upper(trim(t)), '£|GBP|,|\s', '', 'g');

-- "£1,234.56", "1 234.56", "(150.00)" and "150.00-" (credit notes written by accounting systems), "-£75",
-- "£(300.00)", "GBP -100" -> DECIMAL. The sign is read after the currency is dropped, so a credit note keeps it
-- whatever precedes it; anything else left over ("2025-04-01", "(1,000.00" unclosed, "12 pounds") is no amount:
-- NULL, and the loader then names the file, row and column.
CREATE OR REPLACE MACRO spend_amount(t) AS
    CASE WHEN spend_text(t) IS NULL
              OR NOT regexp_full_match(spend_amount_digits(t),
                                       '\((\d+\.?\d*|\.\d+)\)|-(\d+\.?\d*|\.\d+)|(\d+\.?\d*|\.\d+)-?')
         THEN NULL
         ELSE (CASE WHEN regexp_matches(spend_amount_digits(t), '^[(-]|-$') THEN -1 ELSE 1 END)
              * TRY_CAST(regexp_replace(spend_amount_digits(t), '[()\-]', '', 'g') AS DECIMAL(18, 2)) END;

-- The date a payment file's text means: dd/mm/yy, dd/mm/yyyy, dd-Mon-yy, dd-Mon-yyyy, dd Month yyyy, yyyy-mm-dd (a
-- time after it is ignored), dd.mm.yy, dd.mm.yyyy, or an Excel serial day number (a date cell exported as
-- "General"). Two-digit years are tried first: DuckDB's %Y reads "25" as the year 25.
CREATE OR REPLACE MACRO spend_date_parsed(t) AS
    CASE WHEN regexp_full_match(trim(t), '\d{5}(\.\d+)?')
         THEN DATE '1899-12-30' + CAST(floor(CAST(trim(t) AS DOUBLE)) AS INTEGER)
         ELSE CAST(coalesce(
             try_strptime(trim(t), '%d/%m/%y'), try_strptime(trim(t), '%d/%m/%Y'),
             try_strptime(trim(t), '%d-%b-%y'), try_strptime(trim(t), '%d-%b-%Y'),
             try_strptime(trim(t), '%d %B %Y'), try_strptime(trim(t), '%d %b %Y'),
             try_strptime(left(trim(t), 10), '%Y-%m-%d'),
             try_strptime(trim(t), '%d.%m.%y'), try_strptime(trim(t), '%d.%m.%Y')) AS DATE) END;

-- NULL (no date: the loader names the file, row and column) outside 1990-2099, which no payment file's dates
-- leave: a year typed "0025" or "2205", or a number that is no Excel date.
CREATE OR REPLACE MACRO spend_date(t) AS
    CASE WHEN year(spend_date_parsed(t)) BETWEEN 1990 AND 2099 THEN spend_date_parsed(t) END;

-- A supplier id that names no one supplier: one-off payees ("ONETIME", "ONE-OFF SUPPLIER", "SUNDRY", "SUNDRY
-- CREDITORS", "MISC", "CASH", "PETTY CASH", "VARIOUS"), zeros. Any other id shared by different suppliers is split
-- by name when suppliers are resolved (spend/resolve.py split_shared_ids).
CREATE OR REPLACE MACRO spend_supplier_id(t) AS
    CASE WHEN spend_text(t) IS NULL THEN NULL
         WHEN regexp_matches(upper(trim(t)),
                             '^(ONE\s*-?\s*(TIME|OFF)(\s+(SUPPLIERS?|PAYEES?|VENDORS?|CREDITORS?))?'
                             '|SUNDRY(\s+(CREDITORS?|SUPPLIERS?|PAYEES?|VENDORS?|ACCOUNT))?|SUNDRIES|MISC.*'
                             '|(PETTY\s+)?CASH|VARIOUS|0+|9+|X+)$') THEN NULL
         ELSE upper(trim(t)) END;

-- A name compared across spellings: case, accents, punctuation, "&"/"and", "Co"/"Company", a leading "The" and a
-- trailing legal form ("Ltd", "Limited", "CIC", "PLC", "LLP", ...) ignored. Payees' names and the national
-- registers' names meet on this key.
CREATE OR REPLACE MACRO spend_name_key(t) AS
    nullif(trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        ' ' || upper(strip_accents(replace(coalesce(t, ''), '&', ' AND '))) || ' ',
        '[^A-Z0-9]+', ' ', 'g'),
        ' CO ', ' COMPANY ', 'g'),
        '( (LIMITED|LTD|PLC|LLP|CIC|CIO|COMMUNITY INTEREST COMPANY|INCORPORATED|INC))+ $', ' '), '^ THE ', ' ')), '');

-- A company number as Companies House writes it: 8 characters, zero-padded ("SC012345", "00123456").
CREATE OR REPLACE MACRO spend_company_number(t) AS
    CASE WHEN regexp_matches(upper(replace(coalesce(t, ''), ' ', '')), '^([A-Z]{2})?[0-9]{1,8}$')
         THEN lpad(upper(replace(trim(t), ' ', '')), 8, '0') END;

-- A registered charity number: digits (a linked charity's "-1" suffix dropped).
CREATE OR REPLACE MACRO spend_charity_number(t) AS
    nullif(regexp_extract(coalesce(t, ''), '^\s*([0-9]{6,7})', 1), '');

-- The financial year (April to March) of a date: "2025-26".
CREATE OR REPLACE MACRO spend_financial_year(d) AS
    CAST(year(d) - CASE WHEN month(d) < 4 THEN 1 ELSE 0 END AS VARCHAR) || '-'
    || right(CAST(year(d) - CASE WHEN month(d) < 4 THEN 1 ELSE 0 END + 1 AS VARCHAR), 2);
