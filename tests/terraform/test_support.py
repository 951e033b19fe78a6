"""The one evaluator (`support.Plan`) reads Terraform as Terraform does, on a small configuration written here.

python-hcl2 parses; these tests hold what the evaluator adds: precedence, the branch a conditional does not take,
values only an apply knows, counts and for_each, templates, and a resource's configuration read where it is set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.terraform.support import Export, Plan, Unknown

CONFIGURATION = """
variable "enabled" {
  type    = bool
  default = true
}

variable "names" {
  type    = map(string)
  default = { b = "two", a = "one" }
}

variable "level" {
  type    = number
  default = 3
  validation {
    condition     = var.level >= 0 && floor(var.level) == var.level
    error_message = "level must be a whole number >= 0."
  }
}

variable "schedule" {
  type    = string
  default = "cron(0 8 * * ? *)"
  validation {
    condition     = can(regex("^cron\\\\(.+\\\\)$", var.schedule))
    error_message = "schedule must be cron(...)."
  }
}

locals {
  doubled  = var.level * 2
  labels   = { for key, name in var.names : key => upper(name) if key != "z" }
  ordered  = [for key, name in var.names : "${key}=${name}"]
  prefix   = "app-${var.level}"
  optional = var.enabled ? one(aws_sqs_queue.optional[*].url) : null
}

resource "aws_sqs_queue" "optional" {
  count = var.enabled ? 1 : 0
  name  = "${local.prefix}-optional"
}

resource "aws_sqs_queue" "each" {
  for_each = var.names
  name     = "${local.prefix}-${each.key}-${each.value}"
}

resource "terraform_data" "guard" {
  lifecycle {
    precondition {
      condition     = !(var.enabled && var.level > 5)
      error_message = "level ${var.level} is too high while enabled."
    }
  }
}
"""


@pytest.fixture
def export(tmp_path: Path) -> Export:
    (tmp_path / "main.tf").write_text(CONFIGURATION)
    (tmp_path / "terraform.tfvars.json").write_text(json.dumps({"level": 3}))
    return Export("test", tmp_path)


def test_operators_follow_terraforms_precedence_and_only_the_taken_branch_is_read(export: Export) -> None:
    plan = Plan(export)
    assert plan.value("${true || false && false}") is True
    assert plan.value("${!var.enabled || var.level >= 3}") is True
    assert plan.value("${local.doubled + 1 == 7 ? 1 : 0}") == 1
    assert plan.value("${1 + 2 * 3 - 4 / 2}") == 5
    assert plan.value("${true == 1}") is False, "Terraform's true is not 1"
    # var.missing is never read: the branch is not taken.
    assert plan.value('${var.level > 0 ? "yes" : var.missing}') == "yes"
    with pytest.raises(KeyError):
        plan.value("${var.missing}")


def test_templates_render_values_as_terraform_writes_them(export: Export) -> None:
    plan = Plan(export)
    assert plan.value("${local.prefix}/${var.enabled}/${14.4 * 1}") == "app-3/true/14.4"
    assert plan.value("${var.level / 1}") == 3, "a single interpolation keeps its type"
    assert plan.value('say "${upper("hi")}"\n') == 'say "HI"\n'


def test_for_expressions_iterate_maps_in_key_order_and_filter(export: Export) -> None:
    plan = Plan(export, names={"b": "two", "a": "one", "z": "last"})
    assert plan.value("${local.labels}") == {"a": "ONE", "b": "TWO"}
    assert plan.value("${local.ordered}") == ["a=one", "b=two", "z=last"]


def test_what_only_an_apply_knows_is_unknown_and_so_is_whatever_reads_it(export: Export) -> None:
    plan = Plan(export)
    url = plan.value("${local.optional}")
    assert isinstance(url, Unknown) and url == "aws_sqs_queue.optional[0].url"
    assert isinstance(plan.value('${"${local.optional}-x"}'), Unknown)
    assert plan.value("${aws_sqs_queue.optional[0].name}") == "app-3-optional", "set by configuration: known"
    assert (
        Plan(export).knowing({"aws_sqs_queue.optional[0].url": "https://q"}).value("${local.optional}") == "https://q"
    )
    assert Plan(export, enabled=False).value("${one(aws_sqs_queue.optional[*].url)}") is None


def test_counts_and_for_each_decide_the_instances(export: Export) -> None:
    assert Plan(export).instances() == {
        "aws_sqs_queue.optional": 1,
        "aws_sqs_queue.each": 2,
        "terraform_data.guard": 1,
    }
    assert Plan(export, enabled=False).planned("aws_sqs_queue.") == {"aws_sqs_queue.each"}
    assert Plan(export).resource("aws_sqs_queue", "each", "b")["name"] == "app-3-b-two"
    with pytest.raises(LookupError):
        Plan(export, enabled=False).resource("aws_sqs_queue", "optional", 0)


def test_preconditions_and_validations_are_judged_with_their_messages(export: Export) -> None:
    assert Plan(export).refusals() == []
    assert Plan(export, level=6).refusals() == ["level 6 is too high while enabled."]
    assert Plan(export, level=6, enabled=False).refusals() == []
    assert Plan(export, level=2.5).valid("level") is False
    assert Plan(export, schedule="0 8 * * *").valid("schedule") is False
    assert Plan(export).valid("schedule") is True
    with pytest.raises(AssertionError, match="no such variable"):
        Plan(export, undeclared=1)
