"""Alarms for next time: EventBridge patterns, CloudWatch Logs metric filters, CloudFormation.

>>> from forensics.alarms import alarm
>>> alarm({"event_source": "iam.amazonaws.com", "event_name": "CreateAccessKey"}).event_pattern["source"]
['aws.iam']
"""

from __future__ import annotations

from forensics.alarms._alarm import Alarm, alarm

__all__ = ["Alarm", "alarm"]
