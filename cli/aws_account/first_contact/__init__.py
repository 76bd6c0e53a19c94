"""`wb doctor --live`: a first-contact run in a real AWS account, under a hard spending cap.

It deploys a throwaway stack of its own (`wb-doctor-<id>`, with its own team, staging bucket and project),
runs a tiny job on the cheapest allowed instance type, checks that a second run reuses the warm machine,
kills a client mid-job and measures how long the machine is billed past its last lease, trips a budget and
measures the same past the moment the budget ran out, then removes everything it made, and reports each
step, the overspend of each fault and the estimated cost. Module by module:

| module | does |
|---|---|
| `preflight.py` | who and where; refuses a region that has a wb stack; the cheapest machine; the plan |
| `plan.py`, `meter.py` | the worst case before anything starts; the spend so far, and the cap, while it runs |
| `names.py` | the run's own names |
| `clients.py` | the run's `wb` processes, with their own config and data dir |
| `fleet.py` | the run's machines as EC2 shows them |
| `context.py` | what each step works with; the one wait, which enforces the cap and the step's deadline |
| `steps/` | bootstrap, first run, reuse, client killed, budget: one module each |
| `teardown.py`, `diagnostics.py` | remove everything, whatever happened; keep the logs a report needs |
| `report.py`, `run.py` | the report; the whole run |
"""
