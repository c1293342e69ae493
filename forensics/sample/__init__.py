"""A deterministic sample trail with one embedded incident, for notebooks, tests and benchmarks.

``write(out)`` writes an organisation trail of three accounts and five regions in CloudTrail's
S3 delivery layout (``.json.gz``), with days of background activity (people through IAM
Identity Center and the console, CI with long-term keys and OIDC, EC2 instance profiles, Lambda,
AWS Config and other services) and, unless ``incident=False``, one incident whose ground truth
is returned in :attr:`SampleInfo.story` and told in ``docs/sample-incident.md``.

The same arguments always give byte-identical files: every id comes from ``random.Random(seed)``
and gzip headers carry no time.

>>> import forensics as fx
>>> info = fx.sample.write(tmp / "trail", events=2_000, days=1)   # doctest: +SKIP
>>> info.story["leaked_access_key_id"]                             # doctest: +SKIP
'AKIA...'
"""

from __future__ import annotations

from forensics.sample._api import START, STORY, SampleInfo, generate, ground_truth, write

__all__ = ["START", "STORY", "SampleInfo", "generate", "ground_truth", "write"]
