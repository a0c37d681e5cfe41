"""Failures of DynamoDB calls as one line for a person: what failed, and what to change.

Shared by every module that calls DynamoDB (target, table settings, the writer, reads, guards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import botocore.exceptions

from sqlite2ddb.dynamodb.retry import CONNECTION_ERRORS
from sqlite2ddb.errors import TargetError

if TYPE_CHECKING:
    from sqlite2ddb.dynamodb.target import Target


ACCESS_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "MissingAuthenticationToken"}
)
#: Refusals a retry cannot fix: the run stops at its checkpoint and names what to change.
REFUSED_CODES = ACCESS_CODES | CREDENTIAL_CODES | {"ResourceNotFoundException"}


def describe_error(exc: Exception, action: str, target: Target | None = None) -> TargetError:
    """One line for a person: what failed, and what to fix."""
    message, hint = explain(exc, target)
    return TargetError(f"{action}: {message}", hint)


def explain(exc: Exception, target: Target | None) -> tuple[str, str | None]:
    """What went wrong with a DynamoDB call, and the hint of what to change."""
    where = target.endpoint if target else "DynamoDB"
    on_aws = target is not None and target.kind == "aws"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found", "set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region set", "use --aws-region or AWS_DEFAULT_REGION"
    if isinstance(exc, CONNECTION_ERRORS):
        if on_aws:
            assert target is not None
            return (
                f"cannot reach {where}: {type(exc).__name__}",
                f"check --aws-region ('{target.region}' must be a region DynamoDB runs in) and the network",
            )
        return f"cannot reach {where}: {type(exc).__name__}", "check the endpoint URL and that it is running"
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        text = exc.response.get("Error", {}).get("Message", "")
        if code in ACCESS_CODES:
            return f"access denied ({text})", "grant the IAM actions listed in the README"
        if code in CREDENTIAL_CODES:
            return f"the credentials were refused ({code})", "check the key pair or refresh the session"
        if code == "ResourceNotFoundException":
            hint = "run migrate to create the tables" + (", or check --aws-region" if on_aws else "")
            return text or "table not found", hint
        return f"{code}: {text}", None
    return str(exc), None
