# ruff: noqa
"""Names vulture cannot see used, each with the reason it is not dead (vulture reads this file as code that
uses them). `.ci/test` runs vulture on the five code folders with tests/ and bench/ as users; add a name here
only with the reason, never to quiet a finding that is real dead code."""

# zipfile reads these ZipInfo attributes when it writes the entry (cli/aws_account/reaper_zip.py, cli/session/bundle.py)
_.external_attr  # the entry's mode bits
_.compress_type  # deflate for this entry
_.create_system  # unix, so the mode bits are read as such

# click calls these
validate  # `wb config validate`, registered by @command.command("validate") (cli/commands/config.py)
_.convert  # a ParamType's parse of a flag's text (cli/durations.py, cli/flag_types.py)
_.get_command  # LazyGroup's lookup of a subcommand by name (cli/main.py)
_.format_commands  # LazyGroup's `wb --help` listing (cli/main.py)

# pydantic reads these (cli/config/schema.py)
model_config  # the model's settings
_._hosts_are_user_at_host_port  # a @field_validator
_._outputs_stay_inside_the_root  # a @field_validator
_._excludes_are_gitignore_patterns  # a @field_validator
_._in_range  # a @field_validator

# paramiko reads it while it waits for the server's banner (cli/session/connection.py)
_.banner_timeout  # set on the Transport, read by paramiko

# PEP 562 module __getattr__: a lazily imported name (cli/sync/client.py, remote/lean_stdlib.py)
__getattr__  # Python calls it for a name the module lacks

# the agent's commands, looked up by "module:function" strings in remote/agent.py's COMMANDS
run_main  # named in COMMANDS
follow_main  # named in COMMANDS
signal_main  # named in COMMANDS
list_main  # named in COMMANDS
status_main  # named in COMMANDS
scan_main  # named in COMMANDS
sync_run_main  # named in COMMANDS
apply_main  # named in COMMANDS
pack_main  # named in COMMANDS
version_main  # named in COMMANDS
serve_main  # named in COMMANDS (fanout-serve)
fetch_main  # named in COMMANDS (fanout-fetch)

# the daemon's state file (remote/daemon/state.py), read as JSON by `wb-agent daemon --status` and people
_.last_pass_at  # when the last pass began
_.last_renewal  # what the last lease write said
_.last_decision  # what the last pass decided

# parameter names of boto3's S3 upload_file, kept in the Protocol so keyword calls type-check (remote/daemon/protocols.py)
Filename  # upload_file's first parameter
ExtraArgs  # upload_file's options (content type, tagging)

# Powertools reads these from the Lambda context the sandbox hands the reaper (sandbox/reaper_timer.py)
_.invoked_function_arn  # logged with each line
_.memory_limit_in_mb  # logged with each line
_.aws_request_id  # logged with each line

# the sandbox's hosts.json field, read by `wb sandbox status` readers and the tests as JSON (sandbox/records.py)
ready_at  # when the host's sshd answered
