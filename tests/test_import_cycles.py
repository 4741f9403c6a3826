"""No import cycles: no two of our modules import each other, directly or through others.

A cycle hidden by a function-local import still ties the modules together (neither can be understood,
tested or moved without the other), and grimp reads imports inside functions too, so such an import is
no way out: break it with a domain event (core.events), a registry (core.adapters) or by moving the
shared part down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"tests", "bench"}


def root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["root_packages"]


def strongly_connected_components(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is deeper than Python's recursion limit likes)."""
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in imports:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            module, position = work.pop()
            if position == 0:
                index[module] = low[module] = len(index)
                stack.append(module)
                on_stack.add(module)
            for i in range(position, len(imports[module])):
                imported = imports[module][i]
                if imported not in index:
                    work += [(module, i + 1), (imported, 0)]
                    break
                if imported in on_stack:
                    low[module] = min(low[module], index[imported])
            else:
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    components.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
    return components


def describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """The component's modules, and one cycle through it with the line of each import."""
    first = component[0]
    back = next(m for m in sorted(graph.find_modules_directly_imported_by(first)) if m in component)
    chain = [first, *graph.find_shortest_chain(importer=back, imported=first)]
    links = []
    for importer, imported in zip(chain, chain[1:], strict=False):
        lines = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
        links.append(f"    {importer} -> {imported} (l.{', '.join(map(str, lines))})")
    return f"{len(component)} modules: {', '.join(component)}\n" + "\n".join(links)


def test_every_top_level_package_is_checked():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_SHIPPED
    assert packages <= set(root_packages()), \
        f"add {sorted(packages - set(root_packages()))} to [tool.importlinter] root_packages in pyproject.toml"


def test_no_import_cycles():
    graph = grimp.build_graph(*root_packages(), cache_dir=None)
    cycles = [c for c in strongly_connected_components(graph) if len(c) > 1]
    report = "\n".join(describe(graph, c) for c in cycles)
    print(report)
    assert not cycles, f"{len(cycles)} import cycle(s):\n{report}"


def test_hcc_still_finds_the_commands_features_add(tmp_path):
    """The app factory no longer imports api.cli (that was a cycle): `hcc` must still find the commands a
    feature adds to it while the app is built (the province file's, from api.admin)."""
    hcc = Path(sys.executable).with_name("hcc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCC_")} | {"HCC_INSTANCE_DIR": str(tmp_path)}
    result = subprocess.run([str(hcc), "province", "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "import" in result.stdout and "export" in result.stdout


def test_a_cycle_is_reported_with_its_chain():
    graph = grimp.ImportGraph()
    for importer, imported in [("postal.jobs", "postal.shipments"), ("postal.shipments", "postal.models"),
                               ("postal.models", "postal.jobs"), ("postal.webhooks", "postal.models")]:
        graph.add_import(importer=importer, imported=imported, line_number=7, line_contents="import")
    cycles = [c for c in strongly_connected_components(graph) if len(c) > 1]
    assert cycles == [["postal.jobs", "postal.models", "postal.shipments"]]
    assert describe(graph, cycles[0]).splitlines()[1:] == [
        "    postal.jobs -> postal.shipments (l.7)",
        "    postal.shipments -> postal.models (l.7)",
        "    postal.models -> postal.jobs (l.7)",
    ]
