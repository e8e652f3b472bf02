"""Reference implementation of the lipsteeth model: one Python object per agent, on Mesa 3.

It is the correctness oracle for the fast core (DESIGN.md "Reference
implementation"): the same mechanisms M1-M10 of SYSTEM.md, written the plain
way and independently of ``lipsteeth.core``'s mechanism modules, so that a bug
in either implementation shows up as a statistical disagreement between them.
It is also the speed baseline of ``benchmarks/run.py``.

Only data types and definitions are imported from the package
(``core.params``, ``core.timeline``, ``core.outcomes``); nothing from
``core.m01``-``core.m10``, ``core.step``, ``core.state`` or ``core.simulate``.
"""

from . import scenarios
from .model import (
    GroupRecord,
    LabourSiteAgent,
    LipsteethModel,
    ReferenceRun,
    RestaurantAgent,
    SiteAgent,
    WorkerAgent,
    run_reference,
    run_reference_full,
)

__all__ = [
    "GroupRecord",
    "LabourSiteAgent",
    "LipsteethModel",
    "ReferenceRun",
    "RestaurantAgent",
    "SiteAgent",
    "WorkerAgent",
    "run_reference",
    "run_reference_full",
    "scenarios",
]
