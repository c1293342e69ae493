"""The actor -> resource graph: aggregated nodes and edges, and GraphML / GEXF export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest

import forensics as fx
from forensics.graph import build_graph, safe_graph, write_gexf, write_graphml
from tests._blast_helpers import (
    ATTACK,
    ATTACK_B,
    BACKDOOR,
    BACKDOOR_USER,
    BOB_KEY,
    BOB_SESSION,
    DEPLOY,
    LEAKED,
    PAYROLL_OBJ,
    A,
    incident_records,
)
from tests._identity_helpers import trail


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return trail(incident_records()).graph()


def test_nodes_have_kinds_and_facts(graph: nx.MultiDiGraph) -> None:
    assert graph.nodes[LEAKED]["kind"] == "credential"
    assert graph.nodes[LEAKED]["key_kind"] == "long-term"
    assert graph.nodes[ATTACK]["key_kind"] == "temporary"
    assert graph.nodes[f"arn:aws:iam::{A}:user/alice"]["kind"] == "principal"
    # a role that acts and is assumed is one node, a principal, touched as a resource too
    assert graph.nodes[DEPLOY]["kind"] == "principal"
    assert graph.nodes[DEPLOY]["touched"] >= 3
    obj = graph.nodes[PAYROLL_OBJ]
    assert obj["kind"] == "resource" and obj["service"] == "s3"
    assert obj["resource_type"] == "AWS::S3::Object"
    assert obj["touched"] == 3  # attacker, bob, carol
    assert obj["first_seen"] < obj["last_seen"]
    assert obj["first_seen"].endswith("Z")


def test_action_edges_are_aggregated(graph: nx.MultiDiGraph) -> None:
    edge = graph.get_edge_data(BOB_SESSION, "arn:aws:s3:::payroll", key="action")
    assert edge["count"] == 2
    assert edge["event_names"] == "GetObject; PutObject"
    assert (edge["reads"], edge["writes"], edge["denied"], edge["access"]) == (1, 1, 0, "write")
    # one edge per (actor, resource), however many events
    assert graph.number_of_edges(BOB_SESSION, "arn:aws:s3:::payroll") == 1
    denied = graph.get_edge_data(
        ATTACK_B, "arn:aws:secretsmanager:us-east-1:222222222222:secret:prod/db", key="action"
    )
    assert denied["access"] == "denied" and denied["denied"] == 1


def test_identity_edges(graph: nx.MultiDiGraph) -> None:
    assert graph.has_edge(LEAKED, ATTACK, key="minted")
    assert graph.has_edge(ATTACK, ATTACK_B, key="minted")
    assert graph.has_edge(BOB_KEY, BOB_SESSION, key="minted")
    assert graph.has_edge(LEAKED, f"arn:aws:sts::{A}:assumed-role/Deploy/alice", key="assumed")
    assert graph.has_edge(ATTACK, BACKDOOR, key="created")
    assert graph.has_edge(ATTACK, BACKDOOR_USER, key="created")
    assert graph.has_edge(ATTACK, f"arn:aws:iam::{A}:login-profile/svc-backup", key="created")
    assert graph.has_edge(ATTACK, DEPLOY, key="acts_as")
    assert graph.nodes[BACKDOOR]["kind"] == "credential"
    # the graph never links the attacker's session to bob's (same role, same session name)
    assert not nx.has_path(graph, LEAKED, BOB_SESSION)


def test_export_graphml_and_gexf(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    back = nx.read_graphml(write_graphml(graph, tmp_path / "g.graphml"))
    assert back.number_of_nodes() == graph.number_of_nodes()
    assert back.number_of_edges() == graph.number_of_edges()
    assert back.nodes[LEAKED]["kind"] == "credential"
    gexf = nx.read_gexf(write_gexf(graph, tmp_path / "new" / "g.gexf"))  # folder is made
    assert gexf.number_of_edges() == graph.number_of_edges()


def test_safe_graph_flattens_lists_and_times() -> None:
    g = nx.MultiDiGraph()
    g.add_node("k", names=["b", "a"], when=datetime(2024, 1, 1, tzinfo=UTC), gone=None)
    g.add_edge("k", "r", key="action", tags={"x": 1})
    safe = safe_graph(g)
    assert safe.nodes["k"] == {"names": "b; a", "when": "2024-01-01T00:00:00+00:00"}
    assert safe.get_edge_data("k", "r", key="action") == {"tags": "x=1"}


def test_empty_trail_gives_an_empty_graph() -> None:
    assert build_graph(trail([])).number_of_nodes() == 0


def test_external_graph_exports(external: Path, tmp_path: Path) -> None:
    t = fx.load(str(external / "invictus-ir-aws_dataset"), cache=False)
    g = build_graph(t)
    assert g.number_of_edges() > 100
    back = nx.read_graphml(write_graphml(g, tmp_path / "invictus.graphml"))
    assert back.number_of_edges() == g.number_of_edges()
