-- Identifier keys: company numbers, society numbers, websites and email addresses as the exact links compare
-- them (links/exact_links.sql) and the records carry them (staging/*.sql). Build-time TEMP macros.

-- A company number without spaces or punctuation, upper case ('sc 01234' -> 'SC01234').
CREATE OR REPLACE TEMP MACRO company_number_stripped(value) AS (
    upper(regexp_replace(coalesce(CAST(value AS VARCHAR), ''), '[^A-Za-z0-9]', '', 'g'))
);

-- Zero-padded to 8 characters as Companies House writes it: '1234' -> '00001234', 'SC1234' -> 'SC001234'.
CREATE OR REPLACE TEMP MACRO company_number_padded(value) AS (
    CASE WHEN regexp_full_match(company_number_stripped(value), '[0-9]{1,8}')
             THEN lpad(company_number_stripped(value), 8, '0')
         WHEN regexp_full_match(company_number_stripped(value), '[A-Z]{2}[0-9]{1,6}')
             THEN left(company_number_stripped(value), 2) || lpad(substr(company_number_stripped(value), 3), 6, '0')
         ELSE company_number_stripped(value) END
);

-- The padded company number, or NULL for a placeholder (`placeholders`: [linking] placeholder_company_numbers),
-- an all-zero number and anything not shaped like one: 8 digits, a known prefix and 6 digits (SC Scotland, NI
-- Northern Ireland, CE/CS CIOs, IP/RS/SP/NP societies, ...), or an IP/NP society number with a trailing letter
-- (IP28116R). The sample's "XX002802" is not a company number.
CREATE OR REPLACE TEMP MACRO clean_company_number(value, placeholders) AS (
    CASE WHEN regexp_matches(company_number_padded(value),
                '^([0-9]{8}|(AC|BR|CE|CS|ES|FC|GE|GN|GS|IC|IP|LP|NA|NC|NF|NI|NL|NO|NP|NR|NV|NZ|OC|OE|PC|RC|RS|SA'
                || '|SC|SE|SF|SG|SI|SL|SO|SP|SR|SZ|ZC)[0-9]{6}|(IP|NP)[0-9]{5}[A-Z])$')
          AND NOT list_contains(list_append(placeholders, '00000000'), company_number_padded(value))
          AND NOT regexp_full_match(company_number_padded(value), '[A-Z]{2}0{6}')
         THEN company_number_padded(value) END
);

-- A key that is equal for an FCA society and its Companies House record (`source` names which register the
-- number is from; NULL for any other source).
-- FCA full registration numbers are digits plus a suffix that names the register (R = England & Wales before
-- August 2014, RS = Scotland, C = credit union) or, since 2014, digits alone (4xxx co-operatives, 7xxx+ community
-- benefit societies). Companies House writes the same society as a 2-letter prefix and 6 characters: IP + digits
-- zero-padded + suffix (28116R -> IP28116R, 149C -> IP00149C), IP + 6 digits when the R was dropped
-- (IP032356 -> 32356R), RS + digits for post-2014 societies (8053 -> RS008053) and SP for Scottish ones
-- (2054RS -> SP002054). Northern Ireland (NP/NO/NI IP-prefixed) numbers are keyed apart.
CREATE OR REPLACE TEMP MACRO society_number_stripped(number) AS (
    upper(regexp_replace(coalesce(number, ''), '[^A-Za-z0-9]', '', 'g'))
);

CREATE OR REPLACE TEMP MACRO society_key(source, number) AS (
    CASE source
    WHEN 'fca_mutuals' THEN (
        CASE WHEN regexp_full_match(society_number_stripped(number), '(IP|CU)[0-9]+[A-Z]*')
                 THEN 'NI:' || society_number_stripped(number)
             WHEN regexp_full_match(society_number_stripped(number), '[0-9]+[A-Z]*')
                 THEN CAST(CAST(regexp_extract(society_number_stripped(number), '^([0-9]+)', 1) AS BIGINT) AS VARCHAR)
                      || '/' || regexp_extract(society_number_stripped(number), '^[0-9]+([A-Z]*)$', 1)
        END)
    WHEN 'companies_house' THEN (
        CASE WHEN regexp_full_match(society_number_stripped(number), 'IP[0-9]+[A-Z]')
                 THEN CAST(CAST(regexp_extract(society_number_stripped(number), '^[A-Z]{2}([0-9]+)', 1) AS BIGINT)
                           AS VARCHAR) || '/' || right(society_number_stripped(number), 1)
             WHEN regexp_full_match(society_number_stripped(number), 'IP[0-9]{6}')
                 THEN CAST(CAST(regexp_extract(society_number_stripped(number), '^[A-Z]{2}([0-9]+)', 1) AS BIGINT)
                           AS VARCHAR) || '/R'
             WHEN regexp_full_match(society_number_stripped(number), 'RS[0-9]{6}')
                 THEN CAST(CAST(regexp_extract(society_number_stripped(number), '^[A-Z]{2}([0-9]+)', 1) AS BIGINT)
                           AS VARCHAR) || '/'
             WHEN regexp_full_match(society_number_stripped(number), 'SP[0-9]{6}')
                 THEN CAST(CAST(regexp_extract(society_number_stripped(number), '^[A-Z]{2}([0-9]+)', 1) AS BIGINT)
                           AS VARCHAR) || '/RS'
        END)
    END
);

-- Domain + path, lower case, without scheme, 'www.', query, fragment or trailing slash; NULL when nothing is left.
CREATE OR REPLACE TEMP MACRO website_key(url) AS (
    nullif(rtrim(regexp_extract(lower(trim(url)), '^(?:[a-z]+://)?(?:www\.)?([^?#\s]*)', 1), '/'), '')
);

-- The address in lower case; NULL unless shaped like one (something@domain.tld, no spaces).
CREATE OR REPLACE TEMP MACRO email_key(email) AS (
    CASE WHEN regexp_full_match(lower(trim(email)), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN lower(trim(email)) END
);

-- Whether a (lower-case) domain is one of `generic` ([linking] generic_contact_domains, lower case) or below one:
-- a shared gmail.com address or a facebook.com page says nothing about who an organisation is.
CREATE OR REPLACE TEMP MACRO is_generic_domain(domain, generic) AS (
    list_contains(generic, domain)
    OR coalesce(list_bool_or(list_transform(generic, lambda g: ends_with(domain, '.' || g))), FALSE)
);
