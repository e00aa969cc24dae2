"""README command 1 end to end: the demo registers in, a published Wirral register out."""

import duckdb

from vcse_pipeline.run_history import read_history


def query(path, sql, params=None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_demo_publishes_a_register_and_prints_its_size(demo_register):
    out = demo_register.output
    assert f"Published register: {demo_register.path}" in out.replace("\n", "")
    for heading in ("Organisations by legal form", "Organisations by how the area was established",
                    "Source records by register"):
        assert heading in out
    assert demo_register.path.exists()
    assert read_history(demo_register.cfg)[-1]["status"] == "published"


def test_register_has_every_kind_of_vcse_and_both_area_facts(demo_register):
    path = demo_register.path
    forms = dict(query(path, "SELECT legal_form, count(*) FROM organisation GROUP BY 1"))
    for form in ("Charitable incorporated organisation", "Charitable company", "Community interest company",
                 "Unincorporated charity / Trust"):
        assert forms.get(form, 0) > 0, forms
    assert any(f.startswith("Registered society") for f in forms)
    bases = dict(query(path, "SELECT area_basis, count(*) FROM organisation GROUP BY 1"))
    assert set(bases) == {"postcode", "area of operation", "both"}
    # Inactive organisations are kept and flagged, not dropped.
    assert query(path, "SELECT count(*) FROM organisation WHERE NOT is_active")[0][0] > 0
    # Based in Wirral by postcode means the postcode directory put it in E08000015.
    assert query(path, """SELECT count(*) FROM organisation
                          WHERE in_area_by_postcode AND lad_code IS DISTINCT FROM 'E08000015'""") == [(0,)]


def test_one_organisation_per_cluster_with_its_identifiers_and_evidence(demo_register):
    path = demo_register.path
    assert query(path, "SELECT count(*) - count(DISTINCT (area_code, org_id)) FROM organisation") == [(0,)]
    # Charitable companies are linked to their Companies House record, with evidence kept.
    linked = query(path, """
        SELECT count(*) FROM organisation o
        WHERE o.org_id LIKE 'GB-CHC-%' AND EXISTS (
            SELECT 1 FROM organisation_identifier i
            WHERE i.area_code = o.area_code AND i.org_id = o.org_id AND i.scheme = 'GB-COH')""")[0][0]
    assert linked > 0
    assert query(path, """SELECT count(*) FROM organisation_link
                          WHERE method = 'charity company number' AND evidence LIKE '{%'""")[0][0] > 0


def test_every_active_organisation_is_tagged_with_evidence(demo_register):
    path = demo_register.path
    share = query(path, """
        SELECT avg(CASE WHEN s.org_id IS NULL THEN 0 ELSE 1 END) FROM organisation o
        LEFT JOIN (SELECT DISTINCT area_code, org_id FROM organisation_service_area) s USING (area_code, org_id)
        WHERE o.is_active""")[0][0]
    assert share >= 0.8
    assert query(path, "SELECT count(*) FROM organisation_service_area WHERE evidence IS NULL OR evidence = ''") \
        == [(0,)]


def test_published_register_is_self_contained(demo_register):
    # Staging is detached after the build: every view must still answer from the register file alone.
    con = duckdb.connect(str(demo_register.path), read_only=True)
    try:
        views = [v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        assert "provider_directory" in views
        for view in views:
            con.execute(f'SELECT * FROM "{view}" LIMIT 1').fetchall()
    finally:
        con.close()


def test_readiness_is_unknown_for_an_organisation_the_registers_hold_nothing_on(demo_register):
    """The demo's registered societies without returns, income, Charity Commission or Companies House record (the
    build still gives them an organisation_filing row, with their years operating) are `unknown`, never `ready`."""
    levels = dict(query(demo_register.path, """
        SELECT readiness_level, count(*) FROM provider_readiness
        WHERE years_reported = 0 AND latest_income IS NULL AND charity_insolvent IS NULL
          AND charity_reporting_status IS NULL AND ch_company_status IS NULL GROUP BY 1"""))
    assert levels.get("unknown", 0) > 0, levels
    assert "ready" not in levels, levels
