"""The review as a reader sees it: comment.md (the pull request comment), summary.md (the job
summary) and review.json (for scripts), written by write_review().

The comment puts first what a reviewer decides on: the predicted verdict, the metrics table,
what to look at; the details follow in <details> blocks. Its first line is the hidden marker
by which the one comment of a pipeline is found and updated on the next push.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from smgha.review.compare import Comparison

MARKER = "<!-- smgha-review: {pipeline} -->"
# GitHub refuses an issue comment whose body is longer: "Body is too long (maximum is 65536
# characters)" (REST API, https://docs.github.com/rest/issues/comments#create-an-issue-comment;
# the 422 answer quoted in github.com/danger/danger/issues/424). Measured limits differ by
# encoding (github.com/dead-claudia/github-limits/pull/13: 262,144 UTF-8 bytes); 65,536
# characters is the stricter reading and keeps under both (a character is at most 4 bytes).
COMMENT_MAX_CHARACTERS = 65_536
# "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k" (the runner;
# https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions#adding-a-markdown-summary).
SUMMARY_MAX_BYTES = 1024 * 1024
TRUNCATED = (
    "\n\n> **Truncated**: the review is longer than a comment may be ({most:,} characters); "
    "the whole report is the `smgha-review` artifact's report.html and review.json.\n"
)
VERDICT_MARKS = {
    "approved": "✅ **approved**",
    "pending": "⏳ **pending manual approval** (the rules pass)",
    "rejected": "❌ **rejected**",
}


@dataclass(frozen=True)
class FailedBuild:
    """A build whose pipeline execution did not succeed: the report says only this."""

    pipeline_name: str
    execution_arn: str
    status: str  # Failed | Stopped
    failed_step: str  # '' when no step failed (the execution was stopped, or failed to start)
    reason: str


def marker(pipeline_name: str) -> str:
    return MARKER.format(pipeline=pipeline_name or "unknown")


def comment(comparison: Comparison, charts: Sequence[str] = ()) -> str:
    """comment.md: at most COMMENT_MAX_CHARACTERS, cut at a block's end with a note."""
    candidate = comparison.candidate
    blocks = [
        f"{marker(candidate.pipeline_name)}\n### Model review: {candidate.pipeline_name}",
        _verdict(comparison),
        _metrics_table(comparison),
        _look_at(comparison),
        *charts,
        _notes(comparison),
        _details("Gate rules", _rules(comparison)),
        _details("Metrics per segment", _segments(comparison)),
        _details("Data changes", _data(comparison)),
        _details("Pipeline definition changes", _definition(comparison)),
    ]
    return fit([b for b in blocks if b])


def failed_build_comment(failed: FailedBuild) -> str:
    where = (
        f"step **{failed.failed_step}** failed"
        if failed.failed_step
        else f"the execution is {failed.status}"
    )
    reason = failed.reason or "no reason was recorded"
    return fit([
        f"{marker(failed.pipeline_name)}\n### Model review: {failed.pipeline_name}",
        f"❌ **The build failed**: {where}; there is no candidate to review.",
        f"```text\n{reason.replace('```', '` ` `')}\n```",
        f"Execution: `{failed.execution_arn}`",
    ])  # fmt: skip


def fit(blocks: list[str]) -> str:
    """The blocks joined, as many whole blocks as fit under the comment limit with the note."""
    text = "\n\n".join(blocks) + "\n"
    if len(text) <= COMMENT_MAX_CHARACTERS:
        return text
    note = TRUNCATED.format(most=COMMENT_MAX_CHARACTERS)
    kept = blocks[0]
    for block in blocks[1:]:
        if len(kept) + 2 + len(block) + len(note) > COMMENT_MAX_CHARACTERS:
            break
        kept += "\n\n" + block
    # A first block too long on its own is cut (never happens with the marker and a title).
    return kept[: COMMENT_MAX_CHARACTERS - len(note)] + note


def summary(comment_text: str) -> str:
    """summary.md: the comment without its marker (it is shown, not searched for)."""
    text = comment_text.split("\n", 1)[1] if comment_text.startswith("<!--") else comment_text
    assert len(text.encode()) <= SUMMARY_MAX_BYTES  # a comment is at most 4 * 65,536 bytes
    return text


def write_review(folder: Path, comment_text: str, review: dict[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comment.md").write_text(comment_text, encoding="utf-8")
    (folder / "summary.md").write_text(summary(comment_text), encoding="utf-8")
    text = json.dumps(review, indent=1, allow_nan=False, default=str)
    (folder / "review.json").write_text(text + "\n", encoding="utf-8")


# ---- the blocks ---------------------------------------------------------------------------------


def _verdict(comparison: Comparison) -> str:
    if comparison.verdict is None:
        return f"⚠️ **The gate would stop** before judging: {comparison.verdict_error}"
    decision = comparison.verdict
    failed = decision.failures
    because = f": {len(failed)} of {len(decision.results)} rules fail" if failed else ""
    champion = comparison.champion
    versus = (
        f"against champion `{champion.model_package_arn}` ({champion.git_sha[:8] or 'no commit'})"
        if champion
        else "with no champion to compare with"
    )
    return f"Predicted gate verdict: {VERDICT_MARKS[decision.decision]}{because}, {versus}."


def _metrics_table(comparison: Comparison) -> str:
    rows = ["| Metric | Candidate | Champion | Δ |", "|---|---:|---:|---:|"]
    for row in comparison.metrics:
        champion = "–" if row.champion is None else f"{row.champion:.4f}"
        delta = "–" if row.delta is None else f"{row.delta:+.4f}"
        mark = " 🔻" if row.regression > 0 else ""
        rows.append(f"| {_cell(row.name)} | {row.candidate:.4f} | {champion} | {delta}{mark} |")
    return "\n".join(rows)


def _look_at(comparison: Comparison) -> str:
    if not comparison.look_at:
        return "**What to look at**: nothing stands out."
    return "**What to look at**\n" + "\n".join(f"- {_text(item)}" for item in comparison.look_at)


def _notes(comparison: Comparison) -> str:
    if not comparison.notes:
        return ""
    return "**Not compared**\n" + "\n".join(f"- {_text(note)}" for note in comparison.notes)


def _details(title: str, body: str) -> str:
    return f"<details><summary>{title}</summary>\n\n{body}\n\n</details>" if body else ""


def _rules(comparison: Comparison) -> str:
    if comparison.verdict is None or not comparison.verdict.results:
        return ""
    rows = ["| Rule | Result |", "|---|---|"]
    for result in comparison.verdict.results:
        mark = "✅" if result.passed else "❌"
        # A rule's text is safe in a code span as it is (gates' grammar: a metric name of
        # [A-Za-z_][\w.:-]*, an operator, numbers); entities would show there as written.
        rows.append(f"| `{result.rule.text}` | {mark} {_cell(result.detail)} |")
    return "\n".join(rows)


def _segments(comparison: Comparison) -> str:
    if not comparison.segments:
        return ""
    rows = [
        "| Feature | Value | Metric | Candidate | Champion | Rows (cand./champ.) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for s in comparison.segments:
        flag = " ⚠️ worse" if s.worse else ""
        rows.append(
            f"| {_cell(s.feature)} | {_cell(s.value)} | {s.metric} | {s.candidate:.4f}{flag} | "
            f"{s.champion:.4f} | {s.candidate_rows} / {s.champion_rows} |"
        )
    return "\n".join(rows)


def _data(comparison: Comparison) -> str:
    if not comparison.data_shift:
        return ""
    candidate, champion = (
        comparison.candidate.data_profile,
        (comparison.champion and comparison.champion.data_profile),
    )
    counts = (
        f"Rows: {champion['rows']:,} → {candidate['rows']:,}.\n\n" if candidate and champion else ""
    )
    rows = ["| Column | PSI | Shift |", "|---|---:|---|"]
    for moved in comparison.data_shift:
        psi = "–" if moved.psi is None else f"{moved.psi:.3f}"
        rows.append(f"| {_cell(moved.column)} | {psi} | {moved.level or _cell(moved.note)} |")
    rule = "PSI (population stability index): below 0.1 no significant shift, 0.1 to 0.25 moderate, 0.25 and above major."
    return counts + "\n".join(rows) + "\n\n" + rule


def _definition(comparison: Comparison) -> str:
    diff = comparison.definition_diff
    if diff is None:
        return ""
    if diff.empty:
        return "No change to the pipeline's steps or parameter defaults."
    lines = []
    for label, names in (
        ("Added steps", diff.added),
        ("Removed steps", diff.removed),
        ("Changed steps", diff.changed),
        ("Code changed in", diff.code_changed),
    ):
        if names:
            lines.append(f"- {label}: {', '.join(_cell(n) for n in names)}")
    for name, old, new in diff.parameters:
        lines.append(f"- Parameter {_cell(name)}: default `{_cell(old)}` → `{_cell(new)}`")
    return "\n".join(lines)


def _text(text: str, most: int = 1000) -> str:
    """Text that may come from a bundle (untrusted: a fork's data) on one Markdown line: no
    HTML, no @mention (GitHub would notify whoever it names)."""
    one_line = " ".join(str(text).split())[:most]
    return one_line.replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")


def _cell(text: str) -> str:
    """Untrusted text inside a Markdown table cell: as _text, and no pipe (a new cell)."""
    return _text(text, 200).replace("|", "\\|")
