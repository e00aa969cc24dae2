"""The opportunity feed (docs/feed.md): new contract notices harvested every day from Find a Tender and Contracts
Finder, kept when they concern the area, matched to local providers, published beside the register and sent as a
digest.

    harvest.py   HTTP: each service's OCDS pages for one time window (retries, rate limits, cursors)
    store.py     the feed's DuckDB file: releases as received, high-water marks, notices, shortlists; publishing
    keep.py      which notices concern the area, and why
    digest.py    the daily digest (HTML and email) and each provider's "opportunities for you"
    run.py       one run: harvest from the marks, fold, keep, match, publish, digest
"""
