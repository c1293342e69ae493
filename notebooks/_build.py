"""Write the investigation notebooks (clean: no outputs, no execution counts).

Run ``python notebooks/_build.py`` after editing this file; the notebooks are generated, never
edited by hand, so they stay reviewable. Each notebook opens with a cell tagged ``parameters``
(papermill convention) that the test suite replaces to run the same notebook on other trails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

# The sample incident's ground truth (forensics sample, seed 7): the defaults of the parameters.
SAMPLE_PRINCIPAL = "arn:aws:iam::222233334444:user/ci-deploy"
SAMPLE_SEED = "AKIA2MQW7K2WUMLBECXI"
SAMPLE_SINCE = "2026-03-04T00:00:00Z"

SETUP = """\
import altair as alt
import polars as pl
from IPython.display import display

import forensics as fx

alt.renderers.enable("svg")     # charts are drawn in the kernel: offline, identical on every run
pl.Config.set_tbl_rows(20)
pl.Config.set_fmt_str_lengths(80)
pl.Config.set_tbl_width_chars(200)"""

LOAD = """\
trail = fx.load(DATA)
if SINCE or UNTIL:
    trail = trail.between(SINCE, UNTIL)
trail"""


def notebook(cells: list[tuple[str, str]]) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        if kind == "md":
            cell = nbf.v4.new_markdown_cell(source.strip("\n"))
        else:
            cell = nbf.v4.new_code_cell(source.strip("\n"))
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    # stable ids, so regenerating gives the same file
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


START_HERE = [
    (
        "md",
        """
# 00 · Start here: what is in this trail?

This notebook is the first thing to run on a new trail. In ten minutes it tells you **what
the logs cover** (accounts, regions, dates), **who is active** (principals), **when** (timeline
and hour-of-day heatmap) and **what failed** (errors and refused calls), and points you to the
next notebook.

**How to use it**

1. Put the path of your CloudTrail logs in `DATA` below: a folder of `.json.gz` files as S3
   delivers them, single files, a glob, or an `s3://bucket/AWSLogs/...` URL. By default it
   reads the sample incident under `../data/sample` (`make lab` writes it).
2. Run all cells (*Run ▸ Run All Cells*). Nothing here changes anything in AWS: the kit only
   reads logs.
3. Read each step's notes; they say what to look for and what to do next.

All times are **UTC**.
""",
    ),
    (
        "parameters",
        """
# Parameters: change these, then run all cells.
DATA = "../data/sample"   # folder / files / glob of CloudTrail logs, or an s3:// URL
SINCE = None              # optional window, ISO 8601 UTC, e.g. "2026-03-03T00:00:00Z"
UNTIL = None              # exclusive end of the window
""",
    ),
    ("code", SETUP),
    (
        "md",
        """
## Step 1 · Load the trail

`fx.load` reads every file, normalises each record into one row of the events table and keeps a
**load report**. Check the report first: files that could not be read or records that were
skipped are listed there with the reason. Evidence you did not load is evidence you will not see.
""",
    ),
    ("code", LOAD),
    (
        "code",
        """
trail.report
""",
    ),
    (
        "md",
        """
## Step 2 · What does the trail cover?

Accounts, regions and the time span tell you whether you have the logs you need. A gap (an
account or region missing, days with no events) may be a collection gap, or an attacker who
stopped logging: both belong in your notes.
""",
    ),
    (
        "code",
        """
ev = trail.lazy
overview = ev.select(
    pl.len().alias("events"),
    pl.col("event_time").min().alias("first event (UTC)"),
    pl.col("event_time").max().alias("last event (UTC)"),
    pl.col("recipient_account_id").n_unique().alias("accounts"),
    pl.col("aws_region").n_unique().alias("regions"),
    pl.col("principal").n_unique().alias("principals"),
    pl.col("error_code").is_not_null().sum().alias("failed calls"),
).collect()
overview
""",
    ),
    (
        "code",
        """
(ev.group_by("recipient_account_id", "aws_region").len(name="events")
   .sort(["recipient_account_id", "events"], descending=[False, True]).collect())
""",
    ),
    (
        "md",
        """
## Step 3 · Who is active?

One row per **principal**: the durable identity behind the events (an IAM user, a role, root, a
service). Role sessions are folded into their role; the session names are in `principal_arn`.
Look for principals you do not recognise, root activity, and identities whose first appearance
is recent.
""",
    ),
    (
        "code",
        """
principals = trail.principals()
principals.head(15)
""",
    ),
    (
        "code",
        """
fx.charts.top(trail, "principal", 12)
""",
    ),
    (
        "md",
        """
## Step 4 · When?

The timeline stacks events per time bin by service. Spikes, new colours and activity in quiet
hours deserve a closer look. These charts are static images (the notebook runs offline); to
zoom on a time range, drag on the timeline of the explorer in step 6.
""",
    ),
    (
        "code",
        """
fx.charts.timeline(trail, by="event_source", top=8)
""",
    ),
    (
        "code",
        """
fx.charts.heatmap(trail)
""",
    ),
    (
        "md",
        """
## Step 5 · What failed?

A burst of `AccessDenied` from one principal is the classic sign of someone **discovering what a
stolen credential can do**. Calls that blind the defenders (`StopLogging`, `DeleteTrail`,
`LeaveOrganization`, `DeleteDetector`...) are listed first whatever their count, failed or not:
an attempt that failed is still an attempt.
""",
    ),
    (
        "code",
        """
EVASION = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors",
           "LeaveOrganization", "DeleteFlowLogs", "DeleteDetector", "UpdateDetector",
           "DisableSecurityHub", "StopConfigurationRecorder", "DeleteConfigurationRecorder",
           "DeleteLogGroup", "PutBucketLogging", "DisableOrganizationAdminAccount"]
evasion = (ev.filter(pl.col("event_name").is_in(EVASION))
   .group_by("event_name", pl.col("error_code").fill_null("(succeeded)").alias("outcome"))
   .agg(pl.len().alias("calls"), pl.col("principal").unique().sort().alias("principals"),
        pl.col("event_time").min().alias("first (UTC)"))
   .sort("first (UTC)").collect())
print(f"{evasion['calls'].sum() or 0} calls that switch off or blind logging and detection:")
evasion
""",
    ),
    (
        "code",
        """
failed = (trail.where(error=True).lazy
   .group_by("event_name", "error_code")
   .agg(pl.len().alias("failed calls"), pl.col("principal").n_unique().alias("principals"),
        pl.col("event_time").min().alias("first (UTC)"))
   .sort([pl.col("event_name").is_in(EVASION), "failed calls"], descending=True)
   .head(15).collect())
failed
""",
    ),
    (
        "code",
        """
fx.charts.timeline(trail.where(error=True), by="error_code", top=6,
                   title="Failed calls by error code")
""",
    ),
    (
        "code",
        """
denied = trail.where(denied=True)
(denied.lazy.group_by("principal")
    .agg(pl.len().alias("denied calls"), pl.col("event_name").n_unique().alias("distinct APIs"),
         pl.col("source_ip").unique().sort().alias("source IPs"),
         pl.col("event_time").min().alias("first (UTC)"))
    .sort("denied calls", descending=True).head(10).collect())
""",
    ),
    (
        "code",
        """
fx.charts.top(trail, "source_ip", 10)
""",
    ),
    (
        "md",
        """
## Step 6 · Explore on your own

The explorer below lets you search a principal, set a time window and filter by service, event
name or error. The timeline and the table follow every filter; drag on the timeline's lower
strip to narrow the table to a window; click a row to see its **original CloudTrail record**,
exactly as it was logged, and to star, tag or annotate it (kept in `annotations.json` beside
this notebook; the ticket export includes the notes).
""",
    ),
    (
        "code",
        """
ui = fx.ui.explore(trail)
ui
""",
    ),
    (
        "md",
        """
## Next steps

* A suspicious principal? Open **`01_principal_timeline.ipynb`** with `PRINCIPAL` set to it.
* A leaked access key or a compromised role? Open **`02_blast_radius.ipynb`** with `SEED`.
* Ready to write it up? **`03_ticket_export.ipynb`** writes charts, events and a summary for the
  ticket.
""",
    ),
]


PRINCIPAL_TIMELINE = [
    (
        "md",
        """
# 01 · One principal, step by step

"Everything this identity did, and everything done with credentials it minted." This notebook
answers that for one principal: an IAM user, a role, root, a session ARN, a user or role name,
or an access key id.

**How to use it:** set `PRINCIPAL` (and optionally a window) below, then run all cells. The
default is the sample incident's compromised CI user. All times are **UTC**.
""",
    ),
    (
        "parameters",
        f'''
# Parameters: change these, then run all cells.
DATA = "../data/sample"   # folder / files / glob of CloudTrail logs, or an s3:// URL
PRINCIPAL = "{SAMPLE_PRINCIPAL}"   # ARN, session ARN, user/role name or access key id
SINCE = None              # optional window, ISO 8601 UTC
UNTIL = None              # exclusive end
''',
    ),
    ("code", SETUP),
    (
        "md",
        """
## Step 1 · Load and find the principal

`for_principal` accepts any way of naming the identity. If the name is ambiguous (two roles with
the same name in different accounts), it stops and lists the candidates: copy the full ARN of
the one you mean into `PRINCIPAL`.
""",
    ),
    ("code", LOAD),
    (
        "code",
        """
direct = trail.for_principal(PRINCIPAL)
keys = direct.events.group_by("principal").len().sort("len", descending=True)
principal_key = keys["principal"][0]      # the principal column's key for PRINCIPAL
print(f"{PRINCIPAL} -> principal {principal_key}: {len(direct):,} events")
trail.principals().filter(pl.col("principal") == principal_key)
""",
    ),
    (
        "md",
        """
## Step 2 · Include what its credentials minted

With `derived=True` the trail also holds the events of every session minted from this
principal's credentials (AssumeRole chains, GetSessionToken, federation tokens), recursively.
This is where role chaining shows up: a user's key assumes a role, which assumes a role in
another account, and so on. Compare the two counts: the difference is activity you would miss by
filtering on the user alone.
""",
    ),
    (
        "code",
        """
mine = trail.for_principal(PRINCIPAL, derived=True)
print(f"direct: {len(direct):,} events; with derived sessions: {len(mine):,} events")
# where from: one row per source IP (few rows: a new IP stands out)
(mine.lazy.group_by("source_ip")
     .agg(pl.len().alias("events"), pl.col("access_key_id").n_unique().alias("credentials"),
          pl.col("principal").unique().sort().alias("as"),
          pl.col("event_time").min().alias("first (UTC)"),
          pl.col("event_time").max().alias("last (UTC)"),
          pl.col("user_agent").unique().sort().head(3).alias("user agents (3 first)"))
     .sort("first (UTC)").collect())
""",
    ),
    (
        "code",
        """
# with which credential: the busiest credentials / sessions first, so none hides in the middle
sessions = (mine.lazy.group_by("principal", "access_key_id")
     .agg(pl.len().alias("events"), pl.col("event_time").min().alias("first (UTC)"),
          pl.col("event_time").max().alias("last (UTC)"),
          pl.col("source_ip").unique().sort().alias("source IPs"),
          pl.col("error_code").is_not_null().sum().alias("failed"))
     .sort(["events", "first (UTC)"], descending=[True, False]).collect())
print(f"{sessions.height:,} credentials / sessions; the 15 busiest:")
sessions.head(15)
""",
    ),
    (
        "md",
        """
## Step 3 · Timeline

What the principal did over time, by service and by source IP. A new IP address or a new
service appearing late in the trail is a lead: note the first time it appears.
""",
    ),
    (
        "code",
        """
fx.charts.timeline(mine, by="event_source", top=8)
""",
    ),
    (
        "code",
        """
fx.charts.timeline(mine, by="source_ip", top=6)
""",
    ),
    (
        "md",
        """
## Step 4 · First-seen API calls

Each dot is the first time a principal called an API. A stolen credential usually starts with a
burst of new calls: `GetCallerIdentity`, `ListBuckets`, `ListRoles`, `Describe*` across regions
(discovery), then `AssumeRole`, `CreateUser`, `CreateAccessKey` (persistence). Triangles mark
APIs that failed at least once.
""",
    ),
    (
        "code",
        """
fx.charts.first_seen(mine, top=8)
""",
    ),
    (
        "md",
        """
## Step 5 · Working hours and errors

Humans work in blocks of hours; CI runs at fixed times. Activity outside the usual block, and
refused calls, narrow down when the credential changed hands.
""",
    ),
    (
        "code",
        """
fx.charts.heatmap(mine)
""",
    ),
    (
        "code",
        """
fx.charts.timeline(mine.where(error=True), by="error_code", top=6, title="Failed calls")
""",
    ),
    (
        "code",
        """
(mine.lazy.group_by("user_agent")
     .agg(pl.len().alias("events"), pl.col("event_time").min().alias("first (UTC)"),
          pl.col("source_ip").unique().sort().alias("source IPs"))
     .sort("first (UTC)").collect())
""",
    ),
    (
        "md",
        """
## Step 6 · Explore the events

The explorer is preset to this principal and the sessions it minted (the **derived** box:
untick it for the principal's own events only). Narrow the window, filter by service, event
name, error, source IP or user agent, search the request parameters (text or `/regex/`), drag
on the timeline's lower strip, and click a row to read its original record and annotate it.
""",
    ),
    (
        "code",
        """
ui = fx.ui.explore(trail, principal=principal_key, derived=True)
ui
""",
    ),
    (
        "md",
        """
## Next step

Found the first suspicious call? Note its time, then open **`02_blast_radius.ipynb`** with the
access key used (`access_key_id` in the table) as `SEED` and that time as `SINCE`.
""",
    ),
]


BLAST_RADIUS = [
    (
        "md",
        """
# 02 · Blast radius of a leaked key or a compromised identity

Start from one credential (the **seed**: a leaked access key id, a role or user ARN, a session
ARN) and follow it everywhere: every session it minted (role chaining, across accounts), every
key or user created with it (persistence), every resource touched (read, written, refused), in
time order.

**How to use it:** set `SEED` and, if you know it, `SINCE` (the first malicious call; keys
minted before it do not join). Run all cells. The defaults are the sample incident's leaked key
and its incident day. All times are **UTC**.
""",
    ),
    (
        "parameters",
        f'''
# Parameters: change these, then run all cells.
DATA = "../data/sample"   # folder / files / glob of CloudTrail logs, or an s3:// URL
SEED = "{SAMPLE_SEED}"    # access key id (AKIA.../ASIA...) or ARN
SINCE = "{SAMPLE_SINCE}"  # first suspicious time (UTC), or None
UNTIL = None              # exclusive end, or None
''',
    ),
    ("code", SETUP),
    (
        "code",
        """
trail = fx.load(DATA)
trail
""",
    ),
    (
        "md",
        """
## Step 1 · Compute the blast radius

The summary lists the credentials in the closure (how each joined: minted by, created by), the
identities that acted, what was written, read and refused. Read it top to bottom: it is the
story of the incident in the order it happened.
""",
    ),
    (
        "code",
        """
br = fx.blast_radius(trail, SEED, since=SINCE, until=UNTIL)
print(br.summary())
""",
    ),
    (
        "md",
        """
## Step 2 · Credentials: what the attacker held

One row per access key in the closure. `joined_by` says why it is there; `via_access_key_id`
is the credential that minted or created it. **Long-term keys (`AKIA...`) created by the
closure must be deactivated**; temporary keys (`ASIA...`) expire, but their role's sessions can
be revoked.
""",
    ),
    (
        "code",
        """
br.credentials.select(
    [c for c in ("access_key_id", "kind", "joined_by", "via_access_key_id", "principal_arn",
                 "account_id", "first_used", "last_used", "events", "source_ips")
     if c in br.credentials.columns])
""",
    ),
    (
        "code",
        """
br.principals
""",
    ),
    (
        "md",
        """
## Step 3 · Resources: what it reached

Writes first: created users and keys, changed policies, shared snapshots, deleted trails. Then
reads of sensitive data (buckets, secrets, parameters). `denied` rows are attempts that failed:
they show intent and what to harden.
""",
    ),
    (
        "code",
        """
res = br.resources
order = [c for c in ("access", "wrote", "created") if c in res.columns]
res.sort(order, descending=True) if order else res
""",
    ),
    (
        "code",
        """
br.chart()
""",
    ),
    (
        "code",
        """
fx.charts.timeline(br, by="principal", top=8, title="Blast radius events by identity")
""",
    ),
    (
        "md",
        """
## Step 4 · The graph

Left, the credentials in the order they were first used (the seed, red, first; each indented
by how many steps it is from the seed); right, what they touched, grouped by service and type
with counts ("s3 Object ×32 (2 denied)"). Lines say how: minted / created between credentials,
and read / write / denied from a credential to a group (thicker: more resources). Hover a dot or
a label for its full name: the key's principal, IPs and times, or the group's resources.
`br.chart("graph")` and the widget's graph tab draw the same picture.
""",
    ),
    (
        "code",
        """
fx.charts.blast_graph(br)
""",
    ),
    (
        "md",
        """
## Step 5 · Indicators

IPs, keys, ARNs, user agents and regions of the closure: search for them in your other logs
(VPC flow logs, proxy logs, other accounts' trails) and add them to blocklists where it makes
sense.
""",
    ),
    (
        "code",
        """
for kind, values in br.indicators().items():
    print(f"{kind} ({len(values)}):")
    for value in values[:20]:
        print("   ", value)
""",
    ),
    (
        "md",
        """
## Step 6 · Try another seed

The widget recomputes the blast radius for any seed and window: type a key or ARN (the list
suggests the busiest ones) and press Enter, or change the window. The tabs hold the credentials,
the identities, the resources, the timeline, the graph and the events.
""",
    ),
    (
        "code",
        """
ui = fx.ui.blast_radius(trail, SEED, since=SINCE, until=UNTIL)
ui
""",
    ),
    (
        "md",
        """
## Next step

Open **`03_ticket_export.ipynb`** with the same `SEED` and `SINCE` to write the ticket
attachments (the widget's "export to ticket" button writes to the same folder, `../out/<seed>`).
""",
    ),
]


TICKET_EXPORT = [
    (
        "md",
        """
# 03 · Export for the ticket

Writes what a ticket needs into one folder: a **summary** (what, when, who, indicators), the
**charts** (PNG and SVG), the matching **events** (CSV with spreadsheet formulas neutralised,
JSON lines), a readable report and a manifest with the SHA-256 of every file and of the input
logs. Secrets in request parameters (session tokens, passwords) are redacted.

**How to use it:** set the same `SEED` / `SINCE` as in `02_blast_radius` and a folder in `OUT`
(one per ticket, e.g. `../out/INC-1234`; by default `../out/<seed>`, where the blast-radius
widget's "export to ticket" button writes too). Run all cells, then attach the folder's files.
Stars, tags and notes made in the explorer (`annotations.json` beside the notebooks) go into
`annotations.md`.
""",
    ),
    (
        "parameters",
        f'''
# Parameters: change these, then run all cells.
DATA = "../data/sample"   # folder / files / glob of CloudTrail logs, or an s3:// URL
SEED = "{SAMPLE_SEED}"    # access key id or ARN whose blast radius goes into the ticket
SINCE = "{SAMPLE_SINCE}"  # first suspicious time (UTC), or None
UNTIL = None              # exclusive end, or None
OUT = None                # folder to write (default ../out/<seed>; previous exports replaced)
TITLE = None              # ticket title (default: from the seed)
''',
    ),
    ("code", SETUP),
    (
        "code",
        """
trail = fx.load(DATA)
br = fx.blast_radius(trail, SEED, since=SINCE, until=UNTIL)
br
""",
    ),
    (
        "md",
        """
## Step 1 · Write the ticket folder

The export is deterministic: the same trail and parameters give the same bytes, so a colleague
can reproduce your attachment.
""",
    ),
    (
        "code",
        """
OUT = OUT or fx.export.ticket_folder(SEED)
files = fx.export.ticket(br, OUT, title=TITLE)
files
""",
    ),
    (
        "md",
        """
## Step 2 · Read the summary before you attach it

It is plain Markdown (event text is escaped). Paste it into the ticket body; attach the charts
and `events.csv`.
""",
    ),
    (
        "code",
        """
from pathlib import Path

print((Path(files.folder) / "summary.md").read_text())
""",
    ),
    (
        "code",
        """
sorted((name, Path(path).stat().st_size) for name, path in files.items())
""",
    ),
    (
        "md",
        """
## Step 3 · A principal instead of a blast radius

Any filtered trail exports the same way, for example everything one identity did in the window.
""",
    ),
    (
        "code",
        """
who = br.principals["principal"][0]
per_principal = fx.export.ticket(trail.for_principal(who).between(SINCE, UNTIL),
                                 Path(OUT) / "principal", title=f"Activity of {who}")
per_principal
""",
    ),
    (
        "md",
        """
## Before you close the ticket

* Deactivate the long-term keys the summary lists under "Left behind", delete created users and
  login profiles, and revoke the role sessions (see `credentials.csv`).
* Keep the folder with its `manifest.json`: the SHA-256 of the input logs lets anyone check
  later that the ticket was built from the same evidence.
""",
    ),
]

TRIAGE = [
    (
        "md",
        """
# 04 · Triage: where do I look first?

Runs the kit's Sigma rules (ATT&CK-tagged; add your own folders, or SigmaHQ's and Suzaku's, in
`RULES`) over the trail, then follows the worst finding: **findings by level and tactic → pick
one → its actor's timeline → the blast radius of its key → the ticket**.

**How to use it:** set `DATA` (and a window), run all cells. `PICK` chooses another finding
(0 is the worst and earliest with an access key).
""",
    ),
    (
        "parameters",
        """
# Parameters: change these, then run all cells.
DATA = "../data/sample"    # folder / files / glob of CloudTrail logs, or an s3:// URL
SINCE = None               # start of the window (UTC), or None
UNTIL = None               # exclusive end, or None
MIN_LEVEL = "high"         # informational, low, medium, high, critical
RULES = []                 # extra Sigma rule files or folders, e.g. ["../../shared/data/rules"]
PICK = 0                   # which finding to follow (0: the worst, earliest, with an access key)
OUT = "../out/INC-triage"  # ticket folder to write
""",
    ),
    ("code", SETUP),
    ("code", LOAD),
    (
        "md",
        """
## Step 1 · Findings by level and tactic

One row per rule that fired, worst first; rules that could not run are listed with their file and
reason.
""",
    ),
    (
        "code",
        """
findings = fx.detect(trail, rules=RULES)
for problem in findings.problems[:10]:
    print("not run:", problem)
top = findings.at_least(MIN_LEVEL)
print(f"{len(findings):,} findings; {len(top):,} at {MIN_LEVEL} or above")
top.summary()
""",
    ),
    (
        "code",
        """
by_tactic = (
    top.frame.explode("tactics")
    .group_by(pl.col("tactics").cast(pl.String).alias("tactic"), pl.col("level").cast(pl.String))
    .agg(pl.len().alias("hits"), pl.col("rule_id").n_unique().alias("rules"))
    .sort("hits", descending=True)
)
display(by_tactic)
fx.charts.findings_timeline(findings, min_level=MIN_LEVEL)
""",
    ),
    (
        "md",
        """
Who the findings are about: each principal's hits, the worst level, and what its source IPs are
(private or bogon, outside AWS with `{"ip_ranges": "ip-ranges.json"}`, ASN and country with
`"mmdb": [...]`).
""",
    ),
    (
        "code",
        """
trail.principals(findings=findings, enrich=True).select(
    "principal", "events", "findings", "high_findings", "highest_level", "ip_kinds", "from_bogon",
).head(10)
""",
    ),
    (
        "md",
        """
## Step 2 · Pick one: who, with which key

The finding followed below, and everything its principal did (with the sessions its keys
minted) over time.
""",
    ),
    (
        "code",
        """
rank = {lv: i for i, lv in enumerate(fx.detect.LEVELS)}
candidates = (
    (top if len(top) else findings).frame
    .filter(pl.col("access_key_id").is_not_null())
    .with_columns(pl.col("level").cast(pl.String).replace_strict(rank, default=0).alias("rank"))
    .sort(["rank", "time"], descending=[True, False])
)
if candidates.height == 0:
    raise ValueError("no finding names an access key: lower MIN_LEVEL or add RULES")
pick = candidates.row(min(PICK, candidates.height - 1), named=True)
KEY, WHO = pick["access_key_id"], pick["principal"]
print(f"{pick['level']}: {pick['title']} at {pick['time']:%Y-%m-%d %H:%M:%S} UTC")
print(f"principal {WHO}, actor {pick['actor']}, key {KEY}, ATT&CK {', '.join(pick['techniques'])}")
findings.for_principal(WHO).summary()
""",
    ),
    (
        "code",
        """
fx.charts.timeline(trail.for_principal(WHO, derived=True), by="event_name", top=10,
                   findings=findings,  # a mark over each bin with findings, worst level
                   title=f"Everything {WHO.split(':')[-1]} did, and its minted sessions")
""",
    ),
    (
        "md",
        """
## Step 3 · Blast radius of its key

Every credential the key reached (minted, created, console sessions), what they touched, and
the findings inside that closure.
""",
    ),
    (
        "code",
        """
br = fx.blast_radius(trail, KEY)
print(br.summary())
br.findings().summary()
""",
    ),
    (
        "md",
        """
## Step 4 · The ticket

The same folder `03_ticket_export` writes; its `summary.md` and `report.html` have a findings
section (the findings above that name the ticket's events) with each rule's level, ATT&CK ids,
counts, first/last time and author.
""",
    ),
    (
        "code",
        """
from pathlib import Path

files = fx.export.ticket(br, OUT, title=f"Triage: {pick['title']}", findings=findings)
text = (Path(files.folder) / "summary.md").read_text()
print(text[text.index("## Findings"):text.index("## Indicators")])
""",
    ),
]

NOTEBOOKS = {
    "00_start_here.ipynb": START_HERE,
    "01_principal_timeline.ipynb": PRINCIPAL_TIMELINE,
    "02_blast_radius.ipynb": BLAST_RADIUS,
    "03_ticket_export.ipynb": TICKET_EXPORT,
    "04_triage.ipynb": TRIAGE,
}


def main(out: Path = HERE) -> None:
    for name, cells in NOTEBOOKS.items():
        nb = notebook(cells)
        nbf.validate(nb)
        nbf.write(nb, out / name)
        print("wrote", out / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
