"""The import and its gate as a JUnit XML report, which GitLab and GitHub both display.

One test case for the import itself (always passing: a failed import ends the job
before this is written) and one per `--fail-on` rule, failing with the table of
the findings that matched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vulntrail.client import summary as summaries
from vulntrail.client.gate import table

SUITE = "vulntrail"


def render(summary: summaries.Summary) -> str:
    target = summary.target
    failures = sum(1 for v in summary.verdicts if v.failed)
    suite = ET.Element(
        "testsuite",
        name=SUITE,
        tests=str(1 + len(summary.verdicts)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    classname = f"{SUITE}.{target.product}"
    case = ET.SubElement(suite, "testcase", classname=classname, name=f"import {target.engagement}")
    ET.SubElement(case, "system-out").text = "\n".join(summaries.text(summary))
    for verdict in summary.verdicts:
        case = ET.SubElement(suite, "testcase", classname=classname, name=f"gate {verdict.rule}")
        if verdict.failed:
            failure = ET.SubElement(
                case,
                "failure",
                type="VulnerabilityGate",
                message=f"{verdict.count} finding(s) match {verdict.rule}",
            )
            failure.text = "\n".join(table(verdict.rows)) if verdict.rows else None
    root = ET.Element("testsuites", name=SUITE, tests=suite.get("tests", "0"))
    root.set("failures", str(failures))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
