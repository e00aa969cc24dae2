"""register/clusters.py: records joined transitively by their links, one cluster key per organisation."""

from __future__ import annotations

from vcse_pipeline.register.clusters import UnionFind, cluster

CHARITY = "charity_commission:5012345"
COMPANY = "companies_house:07123456"
SOCIETY = "fca_mutuals:31234R"
OTHER = "charity_commission:4000001"


def test_links_join_records_transitively_under_the_smallest_id():
    # The charity links to its company, the company to its registered society: one organisation of three records.
    keys = cluster([SOCIETY, COMPANY, CHARITY, OTHER], [(COMPANY, SOCIETY), (CHARITY, COMPANY)])
    assert keys == {CHARITY: CHARITY, COMPANY: CHARITY, SOCIETY: CHARITY, OTHER: OTHER}


def test_the_key_does_not_depend_on_link_order_or_direction():
    pairs = [(CHARITY, COMPANY), (COMPANY, SOCIETY)]
    forward = cluster([CHARITY, COMPANY, SOCIETY], pairs)
    backward = cluster([SOCIETY, COMPANY, CHARITY], [(b, a) for a, b in reversed(pairs)])
    assert forward == backward == dict.fromkeys([CHARITY, COMPANY, SOCIETY], CHARITY)


def test_a_record_without_links_is_its_own_cluster_and_linked_unknown_records_are_added():
    keys = cluster([OTHER], [(COMPANY, SOCIETY)])
    assert keys == {OTHER: OTHER, COMPANY: COMPANY, SOCIETY: COMPANY}
    assert cluster([], []) == {}


def test_repeated_and_self_links_change_nothing():
    keys = cluster([CHARITY, COMPANY], [(CHARITY, COMPANY), (COMPANY, CHARITY), (CHARITY, CHARITY)])
    assert keys == {CHARITY: CHARITY, COMPANY: CHARITY}


def test_groups_and_path_compression_on_a_long_chain():
    ids = [f"companies_house:{n:08d}" for n in range(2000)]
    uf = UnionFind(ids)
    for a, b in zip(ids[1:], ids[:-1], strict=True):  # a chain, each record linked to the one before
        uf.union(a, b)
    assert uf.find(ids[-1]) == ids[0]
    assert uf.parent[ids[-1]] == ids[0]  # compressed: the next find is one step
    assert uf.groups() == {ids[0]: ids}
