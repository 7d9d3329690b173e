"""architecture.md's fourth contract, stricter than `lint-imports`: no import cycle between the modules of any
headstart package, counting imports inside functions and under `TYPE_CHECKING` too.

`lint-imports` leaves out `TYPE_CHECKING` imports (its config says so), so a cycle that only a type annotation
closes passes it; such a cycle still means two modules know each other, and the next runtime import closes it.
"""

from __future__ import annotations

import grimp
from grimp import ImportGraph


def sibling_cycles(graph: ImportGraph) -> list[list[str]]:
    """The import cycles between the children of each package (a child package stands for all its modules)."""
    cycles: list[list[str]] = []
    for package in sorted(graph.modules):
        children = sorted(graph.find_children(package))
        owner = {child: child for child in children}
        for child in children:
            owner.update({module: child for module in graph.find_descendants(child)})
        edges: dict[str, set[str]] = {child: set() for child in children}
        for module, child in owner.items():
            for imported in graph.find_modules_directly_imported_by(module):
                if owner.get(imported, child) != child:
                    edges[child].add(owner[imported])
        cycles += _strongly_connected(edges)
    return cycles


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of two or more nodes that all reach each other (Kosaraju: finish order, then the reversed graph)."""
    order: list[str] = []
    seen: set[str] = set()
    for start in sorted(edges):
        stack = [(start, iter(sorted(edges[start])))] if start not in seen else []
        seen.add(start)
        while stack:
            node, rest = stack[-1]
            following = next((n for n in rest if n not in seen), None)
            if following is None:
                order.append(node)
                stack.pop()
            else:
                seen.add(following)
                stack.append((following, iter(sorted(edges[following]))))
    reverse: dict[str, set[str]] = {node: set() for node in edges}
    for node, targets in edges.items():
        for target in targets:
            reverse[target].add(node)
    groups: list[list[str]] = []
    placed: set[str] = set()
    for start in reversed(order):
        if start in placed:
            continue
        group, todo = [], [start]
        placed.add(start)
        while todo:
            node = todo.pop()
            group.append(node)
            todo += [n for n in reverse[node] if n not in placed]
            placed.update(reverse[node])
        if len(group) > 1:
            groups.append(sorted(group))
    return groups


def test_no_module_of_a_headstart_package_imports_one_that_imports_it_back() -> None:
    graph = grimp.build_graph("headstart", exclude_type_checking_imports=False, cache_dir=None)
    assert sibling_cycles(graph) == []


def test_the_check_finds_cycles_through_subpackages_functions_and_type_annotations() -> None:
    graph = ImportGraph()
    for module in ["p", "p.a", "p.b", "p.c", "p.sub", "p.sub.x", "p.d"]:
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.sub.x")  # a module inside a subpackage counts as the subpackage
    graph.add_import(importer="p.sub.x", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")  # as a grimp graph of in-function / TYPE_CHECKING imports has it
    graph.add_import(importer="p.c", imported="p.a")  # imports into the cycle, not part of it
    graph.add_import(importer="p.d", imported="p.c")
    assert sibling_cycles(graph) == [["p.a", "p.b", "p.sub"]]
    graph.remove_import(importer="p.b", imported="p.a")
    assert sibling_cycles(graph) == []
