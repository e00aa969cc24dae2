-- The VCSE rule: the readable legal form of each source's records and whether the record counts as a voluntary,
-- community or social enterprise organisation. docs/vcse-rule.md explains the rule in words. The include_*
-- arguments are the [vcse] switches (staging/*.sql pass them). Build-time TEMP macros.
-- survivorship.py compares legal forms with the same strings (register/vcse_rule.py; a test checks they agree).

-- FCA suffix (or prefix) -> society type, from the FCA's own table (the file is package data; db.register_macros
-- passes its path).
CREATE OR REPLACE TEMP TABLE _society_suffix AS
SELECT upper(trim(replace("Suffix/Prefix", '(prefix)', ''))) AS suffix, trim("Society Type") AS society_type
FROM read_csv({{mutuals_suffixes_file}}, header = true, all_varchar = true);

-- charity_type is only given for main charities; a linked charity is a subsidiary or group member.
CREATE OR REPLACE TEMP MACRO charity_legal_form(linked_number, is_cio, type_name) AS (
    CASE WHEN coalesce(linked_number, 0) <> 0 THEN 'Linked charity (subsidiary or group member)'
         WHEN is_cio OR type_name = 'CIO' THEN 'Charitable incorporated organisation'
         WHEN type_name = 'Charitable company' THEN 'Charitable company'
         ELSE 'Unincorporated charity / Trust' END
);

-- Removed charities stay in (flagged inactive): the rule is about legal form, not status.
CREATE OR REPLACE TEMP MACRO charity_is_vcse(linked_number, is_cio, type_name,
                                             include_linked_charities, include_cios, include_charities) AS (
    CASE WHEN coalesce(linked_number, 0) <> 0 THEN include_linked_charities
         WHEN is_cio OR type_name = 'CIO' THEN include_cios
         ELSE include_charities END
);

-- Companies House CompanyCategory -> readable legal form (other categories are shown as they are).
CREATE OR REPLACE TEMP MACRO company_legal_form(category) AS (
    CASE category
    WHEN 'Community Interest Company' THEN 'Community interest company'
    WHEN 'PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)' THEN 'Company limited by guarantee'
    WHEN 'PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of ''Limited'' exemption)'
        THEN 'Company limited by guarantee'
    WHEN 'Charitable Incorporated Organisation' THEN 'Charitable incorporated organisation'
    WHEN 'Scottish Charitable Incorporated Organisation' THEN 'Scottish charitable incorporated organisation'
    WHEN 'Registered Society' THEN 'Registered society (community benefit society / co-operative)'
    WHEN 'Industrial and Provident Society' THEN 'Registered society (community benefit society / co-operative)'
    WHEN 'Royal Charter Company' THEN 'Royal charter company'
    ELSE category END
);

-- The [vcse] switch that includes each category; every other category is not VCSE.
CREATE OR REPLACE TEMP MACRO company_is_vcse(category, include_community_interest_companies,
                                             include_companies_limited_by_guarantee, include_cios,
                                             include_registered_societies, include_royal_charter_companies) AS (
    coalesce(CASE category
             WHEN 'Community Interest Company' THEN include_community_interest_companies
             WHEN 'PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)'
                 THEN include_companies_limited_by_guarantee
             WHEN 'PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of ''Limited'' exemption)'
                 THEN include_companies_limited_by_guarantee
             WHEN 'Charitable Incorporated Organisation' THEN include_cios
             WHEN 'Scottish Charitable Incorporated Organisation' THEN include_cios
             WHEN 'Registered Society' THEN include_registered_societies
             WHEN 'Industrial and Provident Society' THEN include_registered_societies
             WHEN 'Royal Charter Company' THEN include_royal_charter_companies
             ELSE FALSE END, FALSE)
);

-- The society type from the FCA suffix (or prefix), looked up in _society_suffix; post-2014 numbers have no suffix: 4xxx
-- co-operative, else community benefit society. An unknown suffix keeps the register's 'registered as'.
CREATE OR REPLACE TEMP MACRO society_type(suffix_value, number, registered_as_value) AS (
    CASE WHEN nullif(trim(suffix_value), '') IS NULL THEN
             CASE WHEN CAST(number AS VARCHAR) LIKE '4%' THEN 'Co-operative Society'
                  ELSE 'Community Benefit Society' END
         ELSE coalesce((SELECT t.society_type FROM _society_suffix t WHERE t.suffix = upper(trim(suffix_value))),
                       registered_as_value) END
);

CREATE OR REPLACE TEMP MACRO society_legal_form(type_name, registered_as_value) AS (
    CASE WHEN type_name = 'Credit Union' THEN 'Registered society (credit union)'
         WHEN type_name IN ('Registered Society', 'Co-operative Society', 'Community Benefit Society')
             THEN 'Registered society (community benefit society / co-operative)'
         ELSE coalesce(type_name, registered_as_value, 'Society') END
);

-- `society_types` is [vcse] society_types: the society types (or 'registered as' values) that count.
CREATE OR REPLACE TEMP MACRO society_is_vcse(type_name, registered_as_value, include_registered_societies,
                                             society_types) AS (
    CASE WHEN NOT include_registered_societies OR len(society_types) = 0 THEN FALSE
         ELSE list_contains(society_types, type_name) OR list_contains(society_types, registered_as_value) END
);
