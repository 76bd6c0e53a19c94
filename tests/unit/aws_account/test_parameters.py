"""Stack parameters: flag values checked against the template's own constraints, and the update plan."""

from __future__ import annotations

import pytest
from weatherballoon.cli.aws_account import parameters as p
from weatherballoon.cli.aws_account.plan import BootstrapRequest, reaper_schedule
from weatherballoon.cli.errors import UsageError
from weatherballoon.infra.shipped_template import load_shipped_template
from weatherballoon.lambdas import limits

SPECS = {
    "Budget": p.ParameterSpec("Budget", "Number", default="100", min_value=0),
    "Mode": p.ParameterSpec("Mode", "String", default="enforce", allowed_values=("enforce", "dry-run")),
    "Types": p.ParameterSpec("Types", "CommaDelimitedList", default="a,b"),
    "Vpc": p.ParameterSpec("Vpc", "AWS::EC2::VPC::Id"),
}


def test_the_shipped_template_declares_every_parameter_bootstrap_sets() -> None:
    specs = p.template_specs(load_shipped_template())
    assert set(p.SET_BY_BOOTSTRAP) <= set(specs)
    assert {name for name, spec in specs.items() if spec.default is None} <= {p.CODE_BUCKET, p.CODE_KEY, p.VPC_ID}


def test_every_bootstrap_flag_maps_to_a_template_parameter() -> None:
    request = BootstrapRequest(
        owner_budget=1, team_budget=2, team="t", allowed_types=("g5.xlarge",), admins=("arn:aws:iam::1:user/a",),
        lease_minutes=1, idle_minutes=1, max_hours=1, reaper_schedule="rate(1 minute)", reaper_mode="enforce",
        ssh_cidr="10.0.0.0/8", vpc_id="vpc-1", powertools_layer=0, max_volume_gib=200,
        extra_output_bucket="team-results", eice_id="eice-0123456789abcdef0", eice_group="sg-0123456789abcdef0",
        eice_subnet="subnet-0123456789abcdef0",
    )  # fmt: skip
    assert set(request.flag_values()) == set(p.SET_BY_BOOTSTRAP) - {p.CODE_BUCKET, p.CODE_KEY}


def test_ssh_cidr_alone_means_cidr_access_and_eice_is_the_templates_default() -> None:
    assert BootstrapRequest(ssh_cidr="10.0.0.0/8").flag_values()[p.SSH_ACCESS] == ("cidr", "--ssh-cidr")
    assert BootstrapRequest(ssh_access="eice").flag_values()[p.SSH_ACCESS] == ("eice", "--ssh-access")
    assert p.SSH_ACCESS not in BootstrapRequest().flag_values()
    assert p.template_specs(load_shipped_template())[p.SSH_ACCESS].default == "eice"


def test_integer_flags_reach_their_string_parameters_as_digits() -> None:
    specs = p.template_specs(load_shipped_template())
    given = BootstrapRequest(powertools_layer=0, max_volume_gib=200).flag_values()
    for name, expected in ((p.POWERTOOLS_LAYER, "0"), (p.MAX_VOLUME_GIB, "200")):
        value, flag = given[name]
        assert specs[name].check(value, flag=flag) == expected
    with pytest.raises(UsageError, match="--max-volume-gib"):
        specs[p.MAX_VOLUME_GIB].check("7", flag="--max-volume-gib")


def test_the_extra_output_bucket_is_a_bucket_name_or_empty() -> None:
    spec = p.template_specs(load_shipped_template())[p.EXTRA_BUCKET]
    assert spec.default == ""
    for good in ("", "team-results", "a.b-c1"):
        assert spec.check(good, flag="--extra-output-bucket") == good
    for bad in ("s3://team", "Team", "team/prefix", "-team", "ab"):
        with pytest.raises(UsageError, match="--extra-output-bucket"):
            spec.check(bad, flag="--extra-output-bucket")
    given = BootstrapRequest(extra_output_bucket="").flag_values()
    assert given[p.EXTRA_BUCKET] == ("", "--extra-output-bucket")  # given empty: the grant is taken away


def test_shipped_constraints_reject_bad_flags() -> None:
    specs = p.template_specs(load_shipped_template())
    with pytest.raises(UsageError, match="--team: 'a b' does not match"):
        specs[p.TEAM_NAME].check("a b", flag="--team")
    with pytest.raises(UsageError, match="--ssh-cidr"):
        specs[p.SSH_CIDR].check("everyone", flag="--ssh-cidr")
    with pytest.raises(UsageError, match="below the minimum"):
        specs[p.MAX_HOURS].check("0", flag="--max-hours")
    assert specs[p.OWNER_BUDGET].check("250.0", flag="--user-budget") == "250"
    assert specs[p.LEASE_MINUTES].check("0.5", flag="--lease-minutes") == "0.5"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_non_finite_numbers_are_refused(value: str) -> None:
    specs = p.template_specs(load_shipped_template())
    with pytest.raises(UsageError, match="is not a finite number"):
        specs[p.LEASE_MINUTES].check(value, flag="--lease-minutes")


def test_every_number_parameter_is_bounded_on_both_sides() -> None:
    """CloudFormation itself refuses out-of-range values; the supervision ones match lambdas/limits.py."""
    specs = p.template_specs(load_shipped_template())
    numbers = {name: spec for name, spec in specs.items() if spec.is_number}
    assert all(spec.min_value is not None and spec.max_value is not None for spec in numbers.values())
    assert numbers[p.LEASE_MINUTES].max_value == limits.LEASE_MINUTES.high
    assert numbers[p.IDLE_MINUTES].max_value == limits.IDLE_MINUTES.high
    assert numbers[p.MAX_HOURS].max_value == limits.MAX_HOURS.high
    assert numbers[p.OWNER_BUDGET].max_value == numbers[p.TEAM_BUDGET].max_value == limits.BUDGET_USD.high
    with pytest.raises(UsageError, match="above the maximum 1440"):
        specs[p.LEASE_MINUTES].check("1441", flag="--lease-minutes")


def test_creation_passes_every_value_explicitly() -> None:
    plan = p.plan_parameters(SPECS, {"Vpc": "vpc-1", "Budget": "250"}, None)
    assert plan.api == [
        {"ParameterKey": "Budget", "ParameterValue": "250"},
        {"ParameterKey": "Mode", "ParameterValue": "enforce"},
        {"ParameterKey": "Types", "ParameterValue": "a,b"},
        {"ParameterKey": "Vpc", "ParameterValue": "vpc-1"},
    ]
    assert [(c.name, c.old) for c in plan.changes] == [("Budget", None), ("Mode", None), ("Types", None), ("Vpc", None)]


def test_update_keeps_what_no_flag_changes() -> None:
    current = {"Budget": "100", "Mode": "dry-run", "Types": "a, b", "Vpc": "vpc-1"}
    plan = p.plan_parameters(SPECS, {"Budget": "100.0"}, current)
    assert plan.api[0] == {"ParameterKey": "Budget", "ParameterValue": "100.0"}
    assert all(entry.get("UsePreviousValue") for entry in plan.api[1:])
    assert plan.changes == []  # 100.0 == 100, "a, b" == "a,b"
    assert plan.values["Mode"] == "dry-run"


def test_update_reports_changes_and_defaults_new_parameters() -> None:
    plan = p.plan_parameters(SPECS, {"Budget": "300"}, {"Budget": "100", "Vpc": "vpc-1", "Mode": "enforce"})
    assert [(c.name, c.old, c.new) for c in plan.changes] == [("Budget", "100", "300"), ("Types", None, "a,b")]
    assert {"ParameterKey": "Types", "ParameterValue": "a,b"} in plan.api


def test_a_required_parameter_without_value_is_an_error() -> None:
    with pytest.raises(UsageError, match="Vpc has no value"):
        p.plan_parameters(SPECS, {}, None)


def test_unknown_parameter_names_the_mismatch() -> None:
    with pytest.raises(UsageError, match="declares no parameter Nope"):
        p.plan_parameters(SPECS, {"Nope": "1", "Vpc": "v"}, None)


@pytest.mark.parametrize(
    ("period", "schedule"),
    [("1m", "rate(1 minute)"), ("60", "rate(1 minute)"), ("5m", "rate(5 minutes)"), ("1h", "rate(60 minutes)"),
     ("rate(2 minutes)", "rate(2 minutes)"), ("cron(0/5 * * * ? *)", "cron(0/5 * * * ? *)")],
)  # fmt: skip
def test_reaper_period(period: str, schedule: str) -> None:
    assert reaper_schedule(period) == schedule


@pytest.mark.parametrize("period", ["30s", "90s", "soon"])
def test_reaper_period_must_be_whole_minutes(period: str) -> None:
    with pytest.raises(UsageError, match="--reaper-period"):
        reaper_schedule(period)


def test_bootstrap_refuses_a_region_it_cannot_price() -> None:
    from weatherballoon.cli.aws_account.plan import check_region_is_priced

    check_region_is_priced("eu-central-2")  # estimated, but priced
    with pytest.raises(UsageError, match="no prices for us-gov-west-1") as info:
        check_region_is_priced("us-gov-west-1")
    assert "prices_refresh --regions us-gov-west-1" in (info.value.hint or "")
