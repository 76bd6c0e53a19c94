"""What any provider's gang (`wb run --nodes N`) shares: how a job's cost cap is split over its machines.

`Provider.acquire_gang(spec, nodes)` returns the gang's `Held` records by rank (rank 0 first). Each record's
`spec` is the rank's own (`rank_spec`): the job's `--max-cost` divided by N, so that each rank's agent, and
the reaper's backstop, stop a rank whose machine alone reached its share, and the gang together never passes
the cap (all N machines are of one type, one price, started together). A rank stopped so ends the gang.
"""

from __future__ import annotations

import dataclasses

from .records import InstanceSpec


def rank_spec(spec: InstanceSpec, nodes: int) -> InstanceSpec:
    """The spec one rank of an N-machine gang runs under: the cost cap is split evenly; the time cap is not."""
    if nodes < 1:
        raise ValueError(f"a gang has at least one machine, not {nodes}")
    if spec.max_cost_usd is None or nodes == 1:
        return spec
    return dataclasses.replace(spec, max_cost_usd=spec.max_cost_usd / nodes)
