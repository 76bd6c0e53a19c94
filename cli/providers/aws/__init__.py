"""The `aws` provider: EC2 instances launched, reused and supervised through the weatherballoon stack.

Importing this package imports neither boto3 nor paramiko; AWS clients are built on first use.
"""

from __future__ import annotations

from .provider import AwsProvider

__all__ = ["AwsProvider"]
