"""The real column headers of the four registers' files, copied from the real files.

Charity Commission extract (OGL), Companies House BasicCompanyData (OGL), ONSPD 2025 layout (OGL),
FCA Mutuals Public Register SocietyList.csv (OGL). Leading spaces and the FCA spelling "Registation" are real.
"""

from __future__ import annotations

CCEW_HEADERS: dict[str, list[str]] = {
    'charity': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'linked_charity_number',
        'charity_name', 'charity_type', 'charity_registration_status', 'date_of_registration', 'date_of_removal',
        'charity_reporting_status', 'latest_acc_fin_period_start_date', 'latest_acc_fin_period_end_date',
        'latest_income', 'latest_expenditure', 'charity_contact_address1', 'charity_contact_address2',
        'charity_contact_address3', 'charity_contact_address4', 'charity_contact_address5',
        'charity_contact_postcode', 'charity_contact_phone', 'charity_contact_email', 'charity_contact_web',
        'charity_company_registration_number', 'charity_insolvent', 'charity_in_administration',
        'charity_previously_excepted', 'charity_is_cdf_or_cif', 'charity_is_cio', 'cio_is_dissolved',
        'date_cio_dissolution_notice', 'charity_activities', 'charity_gift_aid', 'charity_has_land',
    ],
    'charity_annual_return_history': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'fin_period_start_date',
        'fin_period_end_date', 'ar_cycle_reference', 'reporting_due_date', 'date_annual_return_received',
        'date_accounts_received', 'total_gross_income', 'total_gross_expenditure', 'accounts_qualified',
        'suppression_ind', 'suppression_type',
    ],
    'charity_annual_return_parta': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'latest_fin_period_submitted_ind',
        'fin_period_order_number', 'ar_cycle_reference', 'fin_period_start_date', 'fin_period_end_date',
        'ar_due_date', 'ar_received_date', 'total_gross_income', 'total_gross_expenditure',
        'charity_raises_funds_from_public', 'charity_professional_fundraiser',
        'charity_agreement_professional_fundraiser', 'charity_commercial_participator',
        'charity_agreement_commerical_participator', 'grant_making_is_main_activity',
        'charity_receives_govt_funding_contracts', 'count_govt_contracts', 'charity_receives_govt_funding_grants',
        'count_govt_grants', 'income_from_government_contracts', 'income_from_government_grants',
        'charity_has_trading_subsidiary', 'trustee_also_director_of_subsidiary', 'does_trustee_receive_any_benefit',
        'trustee_payments_acting_as_trustee', 'trustee_receives_payments_services', 'trustee_receives_other_benefit',
        'trustee_resigned_employment', 'employees_salary_over_60k', 'count_salary_band_60001_70000',
        'count_salary_band_70001_80000', 'count_salary_band_80001_90000', 'count_salary_band_90001_100000',
        'count_salary_band_100001_110000', 'count_salary_band_110001_120000', 'count_salary_band_120001_130000',
        'count_salary_band_130001_140000', 'count_salary_band_140001_150000', 'count_salary_band_150001_200000',
        'count_salary_band_200001_250000', 'count_salary_band_250001_300000', 'count_salary_band_300001_350000',
        'count_salary_band_350001_400000', 'count_salary_band_400001_450000', 'count_salary_band_450001_500000',
        'count_salary_band_over_500000', 'count_volunteers',
    ],
    'charity_annual_return_partb': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'latest_fin_period_submitted_ind',
        'fin_period_order_number', 'ar_cycle_reference', 'fin_period_start_date', 'fin_period_end_date',
        'ar_due_date', 'ar_received_date', 'income_donations_and_legacies', 'income_other_trading_activities',
        'income_charitable_activities', 'income_investments', 'income_other', 'income_total_income_and_endowments',
        'income_legacies', 'income_endowments', 'expenditure_raising_funds', 'expenditure_charitable_expenditure',
        'expenditure_other', 'expenditure_total', 'expenditure_investment_management',
        'expenditure_grants_institution', 'expenditure_governance', 'expenditure_support_costs',
        'expenditure_depreciation', 'gain_loss_investment', 'gain_loss_pension_fund',
        'gain_loss_revaluation_fixed_investment', 'gain_loss_other', 'reserves', 'assets_total_fixed',
        'assets_own_use', 'assets_long_term_investment', 'defined_benefit_pension_scheme', 'assets_other_assets',
        'assets_total_liabilities', 'assets_current_investment', 'assets_total_assets_and_liabilities',
        'creditors_one_year_total_current', 'creditors_falling_due_after_one_year', 'assets_cash', 'funds_endowment',
        'funds_unrestricted', 'funds_restricted', 'funds_total', 'count_employees', 'charity_only_accounts',
        'consolidated_accounts',
    ],
    'charity_area_of_operation': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'linked_charity_number',
        'geographic_area_type', 'geographic_area_description', 'parent_geographic_area_type',
        'parent_geographic_area_description', 'welsh_ind',
    ],
    'charity_classification': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'linked_charity_number',
        'classification_code', 'classification_type', 'classification_description',
    ],
    'charity_governing_document': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'linked_charity_number',
        'governing_document_description', 'charitable_objects', 'area_of_benefit',
    ],
    'charity_other_names': [
        'date_of_extract', 'organisation_number', 'registered_charity_number', 'linked_charity_number',
        'charity_name_id', 'charity_name_type', 'charity_name',
    ],
}

COMPANIES_HOUSE_HEADER: list[str] = [
    'CompanyName', ' CompanyNumber', 'RegAddress.CareOf', 'RegAddress.POBox', 'RegAddress.AddressLine1',
    ' RegAddress.AddressLine2', 'RegAddress.PostTown', 'RegAddress.County', 'RegAddress.Country',
    'RegAddress.PostCode', 'CompanyCategory', 'CompanyStatus', 'CountryOfOrigin', 'DissolutionDate',
    'IncorporationDate', 'Accounts.AccountRefDay', 'Accounts.AccountRefMonth', 'Accounts.NextDueDate',
    'Accounts.LastMadeUpDate', 'Accounts.AccountCategory', 'Returns.NextDueDate', 'Returns.LastMadeUpDate',
    'Mortgages.NumMortCharges', 'Mortgages.NumMortOutstanding', 'Mortgages.NumMortPartSatisfied',
    'Mortgages.NumMortSatisfied', 'SICCode.SicText_1', 'SICCode.SicText_2', 'SICCode.SicText_3', 'SICCode.SicText_4',
    'LimitedPartnerships.NumGenPartners', 'LimitedPartnerships.NumLimPartners', 'URI', 'PreviousName_1.CONDATE',
    ' PreviousName_1.CompanyName', ' PreviousName_2.CONDATE', ' PreviousName_2.CompanyName',
    'PreviousName_3.CONDATE', ' PreviousName_3.CompanyName', 'PreviousName_4.CONDATE', ' PreviousName_4.CompanyName',
    'PreviousName_5.CONDATE', ' PreviousName_5.CompanyName', 'PreviousName_6.CONDATE', ' PreviousName_6.CompanyName',
    'PreviousName_7.CONDATE', ' PreviousName_7.CompanyName', 'PreviousName_8.CONDATE', ' PreviousName_8.CompanyName',
    'PreviousName_9.CONDATE', ' PreviousName_9.CompanyName', 'PreviousName_10.CONDATE',
    ' PreviousName_10.CompanyName', 'ConfStmtNextDueDate', ' ConfStmtLastMadeUpDate',
]

ONSPD_2025_HEADER: list[str] = [
    'pcd7', 'pcd8', 'pcds', 'dointr', 'doterm', 'cty25cd', 'ced25cd', 'lad25cd', 'wd25cd', 'parncp25cd', 'usrtypind',
    'east1m', 'north1m', 'gridind', 'hlth19cd', 'nhser24cd', 'ctry25cd', 'rgn25cd', 'ssr95cd', 'pcon24cd', 'eer20cd',
    'educ23cd', 'ttwa15cd', 'pco19cd', 'itl25cd', 'wdstl05cd', 'oa01cd', 'wdcas03cd', 'npark16cd', 'lsoa01cd',
    'msoa01cd', 'ruc01ind', 'oac01ind', 'oa11cd', 'lsoa11cd', 'msoa11cd', 'wz11cd', 'sicbl24cd', 'bua24cd',
    'ruc11ind', 'oac11ind', 'lat', 'long', 'lep21cd1', 'lep21cd2', 'pfa23cd', 'imd20ind', 'cal24cd', 'icb23cd',
    'oa21cd', 'lsoa21cd', 'msoa21cd', 'ruc21ind',
]

FCA_SOCIETY_HEADER: list[str] = [
    'Society Number', 'Society Suffix', 'Full Registation Number', 'Society Name', 'Registered As',
    'Society Address', 'Registration Date', 'Deregistration Date', 'Registration Act',
    'Standard Industrial Classification Code (SIC)', 'Reporting Classification', 'Society Status',
]
