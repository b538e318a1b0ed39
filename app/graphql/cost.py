"""What a GraphQL document costs, counted with its fragment spreads expanded.

A fragment may spread another ten times, that one the next ten times, and so on: a
document of a few hundred bytes then selects a hundred million fields. Rules that walk
the document with every spread expanded (strawberry's ``QueryDepthLimiter`` and
``MaxAliasesLimiter`` do) take minutes over it, holding the event loop. Here each
fragment's cost is worked out once and added wherever it is spread, so the whole
document is walked once, in time linear in its size; the counts themselves are exact.

The checks run after parsing and before any other validation rule, so that no other rule
sees a document refused here. The depth and alias checks keep the messages of strawberry's
rules, which they replace.

graphql-core's OverlappingFieldsCanBeMergedRule compares every two fields of one response
name in a selection set, and their selections with each other: ``{ me { name } }`` 300
times, 3.6 kB, took 1.2 s and 990 times 2 s (then "Validation aborted."). Its work is about
the square of how many fields merge into one response name in one place, so that number
is bounded too, counted as execution merges them: with fragments expanded, inline
fragments flattened, and the selections of same-named fields merged
(``{ me { name } me { name } }`` selects ``name`` twice under ``me``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest query text (UTF-8 bytes), number of fragment definitions, number of
    fields selected with fragments expanded (all operations together), operation depth,
    number of aliases (all operations together) a document may have, and how many fields
    of one response name one selection set may merge (``max_repeats``)."""

    max_bytes: int = 100_000
    max_fragments: int = 100
    max_fields: int = 5000
    max_depth: int = 12
    max_aliases: int = 30
    # Real queries select a name a few times in one place (a field and the fragments that
    # also ask for it); 50 keeps graphql-core's overlap check of a document within ~0.1 s.
    max_repeats: int = 50


@dataclass(frozen=True, slots=True)
class Cost:
    """Of a selection set with its fragments expanded. Depth as strawberry counts it: a
    field without a selection set, or an introspection field, adds nothing."""

    fields: int = 0
    depth: int = 0
    aliases: int = 0


NOTHING = Cost()


def size_error(query: str, max_bytes: int) -> GraphQLError | None:
    """An error for a query text longer than ``max_bytes`` once encoded, None otherwise
    (encoding only a text that could be too long)."""
    if len(query) * 4 <= max_bytes:  # no character takes more than 4 bytes
        return None
    size = len(query.encode("utf-8", "surrogatepass"))
    if size <= max_bytes:
        return None
    return GraphQLError(f"The query is {size} bytes long; at most {max_bytes} bytes are allowed.")


def cost_errors(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Errors for a document over any of ``limits`` (the size aside); empty if none."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    count = sum(isinstance(d, FragmentDefinitionNode) for d in document.definitions)
    if count > limits.max_fragments:
        return [
            GraphQLError(
                f"The query defines {count} fragments; at most {limits.max_fragments} are allowed."
            )
        ]
    costs = fragment_costs(fragments)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    totals = [_selection_cost(op.selection_set, costs) for op in operations]
    errors = []
    fields = sum(cost.fields for cost in totals)
    if fields > limits.max_fields:
        errors.append(
            GraphQLError(
                f"The query selects {fields} fields with its fragments expanded; at most"
                f" {limits.max_fields} are allowed."
            )
        )
    for operation, cost in zip(operations, totals, strict=True):
        if cost.depth > limits.max_depth:
            name = operation.name.value if operation.name else "anonymous"
            errors.append(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {limits.max_depth}",
                    operation,
                )
            )
    aliases = sum(cost.aliases for cost in totals)
    if aliases > limits.max_aliases:
        errors.append(GraphQLError(f"{aliases} aliases found. Allowed: {limits.max_aliases}"))
    if errors:
        return errors
    # Fragments are merged where they are spread; one never spread (which another rule
    # refuses) is still compared within itself by graphql-core, so it is counted alone.
    definitions: list[OperationDefinitionNode | FragmentDefinitionNode] = [
        *operations,
        *fragments.values(),
    ]
    for definition in definitions:
        expanded = fragments if isinstance(definition, OperationDefinitionNode) else {}
        error = repeats_error(definition, expanded, limits)
        if error is not None:
            return [error]
    return []


def fragment_costs(fragments: dict[str, FragmentDefinitionNode]) -> dict[str, Cost]:
    """The cost of every fragment, each worked out once, after the fragments it spreads.
    A spread of an unknown fragment, or one that closes a cycle, costs nothing here: other
    rules refuse both. The fragments are ordered without recursion, since a chain of them
    may be far longer than the nesting of any one."""
    costs: dict[str, Cost] = {}
    started: set[str] = set()
    for root in fragments:
        if root in started:
            continue
        started.add(root)
        stack: list[tuple[str, Iterator[str]]] = [(root, _spreads(fragments[root].selection_set))]
        while stack:
            name, spreads = stack[-1]
            for spread in spreads:
                if spread in fragments and spread not in started:
                    started.add(spread)
                    stack.append((spread, _spreads(fragments[spread].selection_set)))
                    break
            else:
                stack.pop()
                costs[name] = _selection_cost(fragments[name].selection_set, costs)
    return costs


def _spreads(selection_set: SelectionSetNode) -> Iterator[str]:
    """The names of the fragments spread anywhere in ``selection_set``."""
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
            yield from _spreads(selection.selection_set)


def _selection_cost(selection_set: SelectionSetNode, fragments: dict[str, Cost]) -> Cost:
    """Recursive in the nesting of one definition only, which the parser bounds."""
    fields = depth = aliases = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = (
                _selection_cost(selection.selection_set, fragments)
                if selection.selection_set
                else NOTHING
            )
            fields += 1 + inner.fields
            aliases += inner.aliases + (selection.alias is not None)
            if selection.selection_set and not selection.name.value.startswith("__"):
                depth = max(depth, 1 + inner.depth)
            continue
        if isinstance(selection, FragmentSpreadNode):
            inner = fragments.get(selection.name.value, NOTHING)
        elif isinstance(selection, InlineFragmentNode):
            inner = _selection_cost(selection.selection_set, fragments)
        else:
            continue
        fields += inner.fields
        aliases += inner.aliases
        depth = max(depth, inner.depth)
    return Cost(fields, depth, aliases)


@dataclass(slots=True)
class _Merged:
    """The fields of one response name in one selection set, as execution merges them: how
    many, their selections by response name, and the fragments spread into those (each is
    expanded once per merged selection set, as execution does)."""

    count: int = 0
    fields: dict[str, _Merged] = field(default_factory=dict)
    spread: set[str] = field(default_factory=set)


def repeats_error(
    definition: OperationDefinitionNode | FragmentDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    limits: Limits,
) -> GraphQLError | None:
    """An error if ``definition``, with the spreads of ``fragments`` expanded, merges more
    than ``limits.max_repeats`` fields of one response name in one selection set.

    Walked without recursion. The fields walked are at most those counted with every spread
    expanded, which are checked first; the selections walked are bounded all the same (four
    for every field allowed), so that no document can make the walk long."""
    budget = 4 * limits.max_fields
    top = _Merged()
    # (selections left, the fields they merge into, the path there, the fragment expanded)
    stack: list[tuple[Iterator[object], _Merged, tuple[str, ...], str | None]]
    stack = [(iter(definition.selection_set.selections), top, (), None)]
    expanding: set[str] = set()  # a spread of one of these closes a cycle
    while stack:
        selections, merged, path, name = stack[-1]
        selection = next(selections, None)
        if selection is None:
            stack.pop()
            expanding.discard(name or "")
            continue
        budget -= 1
        if budget < 0:
            return GraphQLError(
                f"The query makes more than {4 * limits.max_fields} selections (fields,"
                " fragment spreads and inline fragments) with its fragments expanded."
            )
        if isinstance(selection, FieldNode):
            key = (selection.alias or selection.name).value
            seen = merged.fields.get(key)
            if seen is None:
                seen = merged.fields[key] = _Merged()
            seen.count += 1
            if seen.count > limits.max_repeats:
                return _repeated(definition, path, key, limits.max_repeats)
            if selection.selection_set:
                stack.append((iter(selection.selection_set.selections), seen, (*path, key), None))
        elif isinstance(selection, InlineFragmentNode):
            stack.append((iter(selection.selection_set.selections), merged, path, None))
        elif isinstance(selection, FragmentSpreadNode):
            spread = selection.name.value
            # unknown fragments and cycles are refused by other rules
            if spread in fragments and spread not in expanding and spread not in merged.spread:
                merged.spread.add(spread)
                expanding.add(spread)
                stack.append(
                    (iter(fragments[spread].selection_set.selections), merged, path, spread)
                )
    return None


def _repeated(
    definition: OperationDefinitionNode | FragmentDefinitionNode,
    path: tuple[str, ...],
    key: str,
    limit: int,
) -> GraphQLError:
    if isinstance(definition, FragmentDefinitionNode):
        where = f"fragment '{definition.name.value}'"
    else:
        where = f"'{definition.name.value}'" if definition.name else "the query"
    place = f"under '{'.'.join(path)}'" if path else "at the top"
    return GraphQLError(
        f"'{key}' is selected more than {limit} times in one selection set ({place} of"
        f" {where}), with fragments expanded and fields of one name merged; at most {limit}"
        " are allowed.",
        definition,
    )
