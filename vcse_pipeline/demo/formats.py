"""The column headers of the four registers' files, as the demo writes them.

The Charity Commission and FCA columns are the loaders' own lists (one copy of each source's columns). Only
what no loader lists is written here, copied from the real files: the Companies House header with its real
leading spaces (the loader strips them) and the whole ONSPD 2025 layout (the loader reads a few columns).
Companies House BasicCompanyData (OGL), ONSPD 2025 layout (OGL; contains OS and Royal Mail data, Crown copyright).
tests/test_demo_data.py checks every header against the real sample files under tests/fixtures/.
"""

from __future__ import annotations

from ..sources.charity_commission import TABLE_COLUMNS
from ..sources.fca_mutuals import COLUMNS as FCA_COLUMNS

# Every extract table's columns, the loader's (in the real files' order); the demo writes eight of the tables.
CCEW_HEADERS: dict[str, list[str]] = {table: list(columns) for table, columns in TABLE_COLUMNS.items()}

# The real header line, which the loader reads with its leading spaces stripped: kept here as published.
COMPANIES_HOUSE_HEADER: list[str] = (
    "CompanyName, CompanyNumber,RegAddress.CareOf,RegAddress.POBox,RegAddress.AddressLine1,"
    " RegAddress.AddressLine2,RegAddress.PostTown,RegAddress.County,RegAddress.Country,RegAddress.PostCode,"
    "CompanyCategory,CompanyStatus,CountryOfOrigin,DissolutionDate,IncorporationDate,Accounts.AccountRefDay,"
    "Accounts.AccountRefMonth,Accounts.NextDueDate,Accounts.LastMadeUpDate,Accounts.AccountCategory,"
    "Returns.NextDueDate,Returns.LastMadeUpDate,Mortgages.NumMortCharges,Mortgages.NumMortOutstanding,"
    "Mortgages.NumMortPartSatisfied,Mortgages.NumMortSatisfied,SICCode.SicText_1,SICCode.SicText_2,"
    "SICCode.SicText_3,SICCode.SicText_4,LimitedPartnerships.NumGenPartners,LimitedPartnerships.NumLimPartners,URI,"
    "PreviousName_1.CONDATE, PreviousName_1.CompanyName, PreviousName_2.CONDATE, PreviousName_2.CompanyName,"
    "PreviousName_3.CONDATE, PreviousName_3.CompanyName,PreviousName_4.CONDATE, PreviousName_4.CompanyName,"
    "PreviousName_5.CONDATE, PreviousName_5.CompanyName,PreviousName_6.CONDATE, PreviousName_6.CompanyName,"
    "PreviousName_7.CONDATE, PreviousName_7.CompanyName,PreviousName_8.CONDATE, PreviousName_8.CompanyName,"
    "PreviousName_9.CONDATE, PreviousName_9.CompanyName,PreviousName_10.CONDATE, PreviousName_10.CompanyName,"
    "ConfStmtNextDueDate, ConfStmtLastMadeUpDate"
).split(",")

# The real 2025 column names (the loader finds the few it needs by pattern).
ONSPD_2025_HEADER: list[str] = [
    'pcd7', 'pcd8', 'pcds', 'dointr', 'doterm', 'cty25cd', 'ced25cd', 'lad25cd', 'wd25cd', 'parncp25cd', 'usrtypind',
    'east1m', 'north1m', 'gridind', 'hlth19cd', 'nhser24cd', 'ctry25cd', 'rgn25cd', 'ssr95cd', 'pcon24cd', 'eer20cd',
    'educ23cd', 'ttwa15cd', 'pco19cd', 'itl25cd', 'wdstl05cd', 'oa01cd', 'wdcas03cd', 'npark16cd', 'lsoa01cd',
    'msoa01cd', 'ruc01ind', 'oac01ind', 'oa11cd', 'lsoa11cd', 'msoa11cd', 'wz11cd', 'sicbl24cd', 'bua24cd',
    'ruc11ind', 'oac11ind', 'lat', 'long', 'lep21cd1', 'lep21cd2', 'pfa23cd', 'imd20ind', 'cal24cd', 'icb23cd',
    'oa21cd', 'lsoa21cd', 'msoa21cd', 'ruc21ind',
]

# The loader's source columns, in the register's order and spelling ("Registation").
FCA_SOCIETY_HEADER: list[str] = list(FCA_COLUMNS)
