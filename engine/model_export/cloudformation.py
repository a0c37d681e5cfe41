"""A CloudFormation template with one ``AWS::DynamoDB::Table`` per table of the plan.

The properties are the CreateTable request ``migrate`` would send (same key
schema, attribute definitions, indexes, projections and billing mode), so
tables created from the template pass ``validate``'s shape check; teams that
create tables through infrastructure as code then run with
``create_tables: false``. Point-in-time recovery is on unless turned off.
"""

from __future__ import annotations

import re
from typing import Any

from sqlite2ddb.dynamodb.target import create_table_request
from sqlite2ddb.plan.compile import Plan


def template(plan: Plan, point_in_time_recovery: bool = True) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for table in plan.tables:
        logical = logical_id(table.spec.name)
        properties = cloudformation_properties(create_table_request(table))
        properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": point_in_time_recovery}
        resources[logical] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
        outputs[f"{logical}Arn"] = {
            "Description": f"ARN of {table.name}",
            "Value": {"Fn::GetAtt": [logical, "Arn"]},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"DynamoDB tables of mapping set {plan.mapping.directory} (digest {plan.mapping.digest[:12]}), "
            "written by sqlite2ddb export-model; run the migration with create_tables: false"
        ),
        "Resources": resources,
        "Outputs": outputs,
    }


def cloudformation_properties(request: dict[str, Any]) -> dict[str, Any]:
    """A CreateTable request in CloudFormation's spelling, where the two differ.

    ``StreamSpecification`` has no ``StreamEnabled`` (a view type means on);
    ``SSESpecification`` says ``SSEEnabled`` where the API says ``Enabled``.
    """
    out = dict(request)
    if "StreamSpecification" in out:
        out["StreamSpecification"] = {"StreamViewType": out["StreamSpecification"]["StreamViewType"]}
    if "SSESpecification" in out:
        sse = dict(out["SSESpecification"])
        sse["SSEEnabled"] = sse.pop("Enabled")
        out["SSESpecification"] = sse
    return out


def logical_id(name: str) -> str:
    """MusicCatalog -> MusicCatalogTable (CloudFormation allows letters and digits only)."""
    return re.sub(r"[^A-Za-z0-9]", "", name) + "Table"
