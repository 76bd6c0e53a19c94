"""The reaper Lambda: `weatherballoon.lambdas.reaper.handler`, run every minute by EventBridge.

Thin: settings are read once per container (`ReaperSettings.from_env`), the `Reaper` is built on the first
invocation and kept warm, each invocation runs it once, then logs and emits metrics. A run that met any
failure raises `ReaperRunError` after doing everything it could, so Lambda counts an error.

Test seam: `set_reaper(reaper)` installs a ready `Reaper` (built from any store, fleet and clock);
`set_reaper(None)` drops it so the next invocation builds one from the environment again. Tests reach a
moto server through `AWS_ENDPOINT_URL`, the same path production takes to AWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .clock import system_clock
from .config import ReaperSettings
from .decision import TERMINATE_REASONS, Action
from .dynamo_store import DynamoStore
from .ec2_fleet import Ec2Fleet
from .engine import Reaper
from .errors import ReaperRunError, SettingError
from .report import RunReport

if TYPE_CHECKING:
    from .clock import Clock

SERVICE = "wb-reaper"
NAMESPACE = "Weatherballoon"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

_reaper: Reaper | None = None


def build_reaper(settings: ReaperSettings, *, session: Any | None = None, clock: Clock = system_clock) -> Reaper:
    """The production wiring: DynamoDB and EC2 clients from one boto3 session (the default chain when None),
    one retry policy. Tests pass a shifted `clock` to judge moto's just-launched instances as old."""
    if session is None:
        import boto3

        session = boto3.session.Session()
    store = DynamoStore(settings.table_name, session=session, max_attempts=settings.api_max_attempts)
    fleet = Ec2Fleet(session=session, max_attempts=settings.api_max_attempts)
    return Reaper(settings, store, fleet, clock=clock, logger=logger)


def get_reaper() -> Reaper:
    global _reaper
    if _reaper is None:
        try:
            settings = ReaperSettings.from_env()
        except SettingError:
            metrics.add_metric(name="failures", unit=MetricUnit.Count, value=1)
            raise
        _reaper = build_reaper(settings)
    return _reaper


def set_reaper(reaper: Reaper | None) -> None:
    """Install a `Reaper` for the next invocations, or None to rebuild from the environment."""
    global _reaper
    _reaper = reaper


def emit_metrics(report: RunReport) -> None:
    for name, value in report.counts().items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    terminate_reasons = report.reasons(Action.TERMINATE)
    for reason in sorted(TERMINATE_REASONS, key=lambda r: r.value):
        metrics.add_metric(
            name=f"terminate.{reason.value}", unit=MetricUnit.Count, value=terminate_reasons[reason.value]
        )
    metrics.add_metric(name="accrued_usd", unit=MetricUnit.NoUnit, value=report.accrued_usd)
    metrics.add_metric(
        name="duration_ms", unit=MetricUnit.Milliseconds, value=1000.0 * (report.finished_at - report.started_at)
    )


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reaper = get_reaper()
    report = reaper.run()
    emit_metrics(report)
    summary = report.summary()
    if not report.ok:
        logger.error("reaper run finished with failures", extra={"summary": summary})
        raise ReaperRunError(
            report.failures,
            f"reaper run {report.run_id}: {len(report.failures)} failure(s); first: {report.failures[0]}",
        )
    logger.info("reaper run finished", extra={"summary": summary})
    return summary
