"""Clusters: records joined transitively by links (union-find), one cluster per real organisation."""

from __future__ import annotations

from collections.abc import Iterable


class UnionFind:
    def __init__(self, items: Iterable[str] = ()):
        self.parent: dict[str, str] = {}
        for item in items:
            self.add(item)

    def add(self, item: str) -> None:
        self.parent.setdefault(item, item)

    def find(self, item: str) -> str:
        self.add(item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression keeps later finds short
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for item in self.parent:
            out.setdefault(self.find(item), []).append(item)
        return out


def cluster(records: Iterable[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """record_id -> cluster key (the smallest record_id in its cluster), for the given records and links."""
    uf = UnionFind(records)
    for a, b in pairs:
        uf.union(a, b)
    return {item: uf.find(item) for item in uf.parent}
