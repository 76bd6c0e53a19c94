"""How the agent's job commands tell the client their own outcome apart from a job's exit status.

A job may exit with any status from 0 to 255, so no exit status of `follow` or `run --follow` can mean
"unknown job" or "could not start" once a job's output is flowing. The rule:

- `run --follow`, `follow`: the first bytes on stdout are STREAM_HEADER, written once the job exists and
  its output is about to flow. Everything after it is the job's stdout, byte-exact, and the exit status
  is then the job's own (or 255 with a `wb-agent:` line when the job was lost).
- Without the header the command never reached the job: its exit status is one of the codes below and
  its stderr says why in a `wb-agent:` line. The client reads these only when no header came.

Runs on python3 >= 3.8, stdlib only.
"""

STREAM_HEADER = b"wb-stream 1\n"

USAGE_EXIT = 2  # a malformed command (option, id, spec): a client bug, never the user's
UNKNOWN_JOB_EXIT = 3  # no job by that id on this machine
ALREADY_ENDED_EXIT = 1  # `signal`: the job has ended
JOB_STATE_EXIT = 125  # the agent could not create the job's files (state dir: full disk, read-only home)
TOO_LONG_EXIT = 7  # the job's argv and environment are over the machine's exec limit (E2BIG)
INTERRUPTED_EXIT = 130
