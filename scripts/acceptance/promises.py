"""The one list of what only a real AWS account (or real GitHub) can show, and what answers each item.

Every item of every "What only a real ... can show/verify" list in docs/, and of the closing notes' lists, is a
`Promise` here: answered by checks, listed as manual with the reason, or both (a check answers part of it).
tests/unit/test_acceptance_report.py holds the docs' lists to this one, and docs/acceptance.md's table is
generated from it (`python -m scripts.acceptance --write-docs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from scripts.acceptance.framework import ACCEPTANCE_DOC, ROOT

CLOSING_NOTE = "closing note of stop 14"
ISSUE = "issue 22"
GENERATED_START = "<!-- generated:promises -->"
GENERATED_END = "<!-- /generated:promises -->"


@dataclass(frozen=True)
class Promise:
    """One item. `doc_bullet` is how its bullet in `source` begins, when `source` is a file under docs/."""

    text: str
    source: str
    checks: tuple[str, ...] = ()
    manual: str = ""
    doc_bullet: str = ""


PROMISES: tuple[Promise, ...] = (
    Promise(
        "OIDC: each role trusts exactly its subject; production-plan cannot apply; reviewers gate deploy-prod",
        "docs/delivery.md",
        ("deploy_role_trust",),
        "that production-plan cannot apply and that reviewers gate deploy-prod are GitHub environment settings: "
        "read them in the repository's settings, and watch the first prod run wait for approval",
        "OIDC: each environment's role",
    ),
    Promise(
        "The job summary shows the plan; artifacts pass between jobs with the pinned upload/download-artifact",
        "docs/delivery.md",
        ("action_pins",),
        "a GitHub Actions behaviour, not an AWS one: seen in the first deploy run's summary and artifacts",
        "The job summary showing the plan",
    ),
    Promise(
        "The bootstrap's deploy roles let a real terraform apply of each export through",
        "docs/delivery.md",
        ("deploy_role_permissions",),
        "the simulator answers for deploy.py's calls only; the first dev deploy applies the whole export under "
        "the dev role, and the first prod run shows the production role's (a denied call fails its apply)",
        "That the bootstrap's deploy roles",
    ),
    Promise(
        "The provider lock the build job makes on GitHub's runner",
        "docs/delivery.md",
        (),
        "needs the Terraform registry: read the build job's summary and the lock in its deploy-artifact",
        "The provider lock made by the build job",
    ),
    Promise(
        "The stage roles' permissions boundary: IAM's evaluation of the conditions; the service works under it",
        "docs/delivery.md",
        ("api_smoke",),
        "the conditions are IAM's to evaluate: the first apply that sets role_permissions_boundary_arn shows them; "
        "the smoke check and the next deploy's hooks show the functions working under the boundary",
        "The stage roles' permissions boundary",
    ),
    Promise(
        "How a job waiting for approval counts in its concurrency group",
        "docs/delivery.md",
        (),
        "GitHub's scheduler: start two runs while one waits for approval, once",
        "How a job waiting for approval",
    ),
    Promise(
        "CodeDeploy refuses a second deployment; the shift itself; weights left by a real stopped deployment",
        "docs/delivery.md",
        ("rollback_drill", "live_alias_settled"),
        "the refusal needs two deployments of one group at once, which would hold the stage's group: "
        "try it in dev with two `make deploy` runs",
        "CodeDeploy's own refusal of a second deployment",
    ),
    Promise(
        "The S3 lock file under concurrent runs, and a stale plan on the S3 backend",
        "docs/delivery.md",
        (),
        "needs two Terraform runs writing the stage's state at once: a drill on dev's state, not a check",
        "The S3 lock file under concurrent runs",
    ),
    Promise(
        "chalice package on GitHub's runner gives the same zip as a rebuild elsewhere",
        "docs/delivery.md",
        (),
        "needs GitHub's runner: rebuild the manifest's commit (docs/delivery.md#build-once-promote-that-build)",
        "That `chalice package` on GitHub's runner",
    ),
    Promise(
        "Restore time: how long a PITR restore of the table takes",
        "docs/disaster-recovery.md",
        ("point_in_time_recovery",),
        "a restore creates a table and takes minutes to hours: time it in a DR drill, then delete the copy",
        "**Restore time.**",
    ),
    Promise(
        "Failover time to the standby region",
        "docs/disaster-recovery.md",
        (),
        "the second region is priced, not built",
        "**Failover time.**",
    ),
    Promise(
        "Global table behaviour: replication lag, deep health while the replica is created",
        "docs/disaster-recovery.md",
        (),
        "the export has no replica: nothing to measure until the second region exists",
        "**Global table behaviour.**",
    ),
    Promise(
        "Route 53 health-check pricing for an execute-api endpoint",
        "docs/disaster-recovery.md",
        (),
        "a price: read it on the first bill that carries a health check",
        "**Health-check pricing.**",
    ),
    Promise("The pinned action SHAs match their tags", CLOSING_NOTE, ("action_pins",)),
    Promise("The OIDC trust", CLOSING_NOTE, ("deploy_role_trust",)),
    Promise(
        "The CodeDeploy shift, and a rollback on a real alarm",
        CLOSING_NOTE,
        ("rollback_drill", "alarm_drill", "deployment_stops_on_alarm"),
        "an alarm raised by real 5xx during a real canary needs faults injected into live traffic: the drills "
        "show each half (a failed shift rolls back; an alarm fires and notifies)",
    ),
    Promise(
        "Alarms with 5-minute periods can stop a 5-minute canary (p99 cannot)",
        CLOSING_NOTE,
        ("deployment_stops_on_alarm",),
        "timing under real traffic with induced errors (docs/decisions/0012-codedeploy-vs-hand-shifted-alias.md)",
    ),
    Promise(
        "Terraform plans no change on live after CodeDeploy moves it",
        CLOSING_NOTE,
        ("terraform_plan_clean", "live_alias_settled"),
    ),
    Promise("The deploy role's permissions", CLOSING_NOTE, ("deploy_role_permissions",)),
    Promise("PR(:300) and 259,200 s periods work in alarms", CLOSING_NOTE, ("slo_alarm_statistics",)),
    Promise("Whether the stage throttle applies per method", CLOSING_NOTE, ("stage_throttle",)),
    Promise(
        "WAF false positives",
        CLOSING_NOTE,
        ("waf_logging",),
        "a judgement on real traffic: run in count mode, read the WAF log for blocked legitimate requests",
    ),
    Promise(
        "HTTP API events carry resourcePath",
        CLOSING_NOTE,
        (),
        "no stage runs the HTTP API; when one does, its request log lines must carry `route` (api_smoke fails "
        "on any 500 Unknown request)",
    ),
    Promise("The CloudFront log bucket ACL", CLOSING_NOTE, ("cloudfront_logs",)),
    Promise(
        "Budgets and anomaly alerts publish to a KMS-encrypted topic",
        CLOSING_NOTE,
        ("cost_alerts_encrypted_topic",),
        "an anomaly alert needs a real anomaly; the budget's wiring is checked",
    ),
    Promise(
        "PITR and failover times",
        CLOSING_NOTE,
        ("point_in_time_recovery",),
        "times need a restore drill and a second region (docs/disaster-recovery.md)",
    ),
    Promise("Every price (dated 2025-08)", CLOSING_NOTE, (), "prices change: compare make cost with the bill"),
    Promise("The warm-up really holds N distinct containers", ISSUE, ("warm_up_containers",)),
    Promise("The first request after a provisioned init is a cache hit", ISSUE, ("provisioned_init_cache_hit",)),
    Promise("WAF logging", ISSUE, ("waf_logging",)),
    Promise("The deployed API answers its contract (make smoke, on every run)", ISSUE, ("api_smoke", "table_ready")),
)


def promises_table(check_docs: dict[str, str]) -> str:
    """docs/acceptance.md's generated table: each promise, where it was listed, what answers it."""
    lines = [
        GENERATED_START,
        "| promise | listed in | checked by | manual, and why |",
        "|---|---|---|---|",
    ]
    for promise in PROMISES:
        checks = ", ".join(f"[`{name}`](#{check_docs[name].split('#', 1)[1]})" for name in promise.checks) or "—"
        source = (
            f"[{promise.source}]({promise.source.removeprefix('docs/')})"
            if promise.source.startswith("docs/")
            else promise.source
        )
        lines.append(f"| {promise.text} | {source} | {checks} | {promise.manual or '—'} |")
    lines.append(GENERATED_END)
    return "\n".join(lines)


def write_docs(check_docs: dict[str, str]) -> bool:
    """Rewrites the generated table in docs/acceptance.md; True when it changed."""
    path = ROOT / ACCEPTANCE_DOC
    text = path.read_text()
    start, end = text.index(GENERATED_START), text.index(GENERATED_END) + len(GENERATED_END)
    updated = text[:start] + promises_table(check_docs) + text[end:]
    if updated != text:
        path.write_text(updated)
    return updated != text
