"""Copies that two runs made at once of a record without a unique name, pure: which stay.

Automations have no unique name, so no 409 tells a run that another made the same one
meanwhile: two imports at once each create a copy. Every run decides alike which copies stay:
of the destination's copies equal to a group of equal bundle records, the first made (by
creation time, then id) stay, as many as the group has records; a run deletes the copies it
made beyond them and takes a staying copy that no record of the group holds yet. Since a run
decides after its own creates, a copy it cannot see yet was made after its own, so it never
stays at the cost of one that run keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

__all__ = ["staying"]


def staying(
    mine: Mapping[int, str], copies: Sequence[tuple[str, str]], held: Set[str], size: int
) -> dict[int, str]:
    """For one group of `size` equal records: `mine`, the copy this run made for each of its
    records (ordinal -> id); `copies`, (creation time, id) of every copy on the destination;
    `held`, ids the group's other records already hold. Returns, for each of this run's
    records whose copy does not stay, the staying copy it takes instead."""
    stay = [ident for _, ident in sorted(copies)[:size]]
    taken = set(held) | {ident for ident in mine.values() if ident in stay}
    swaps: dict[int, str] = {}
    for i in sorted(mine):
        if mine[i] in stay:
            continue
        free = next((ident for ident in stay if ident not in taken), None)
        if free is None:
            continue  # more records than staying copies: this copy is needed, it stays
        taken.add(free)
        swaps[i] = free
    return swaps
