"""The package imports and loads the external samples end to end."""

import forensics as fx


def test_load_external_end_to_end(external):
    trail = fx.load(external / "invictus-ir-aws_dataset", cache=False)
    assert len(trail) == 2900
    assert trail.events.columns == list(fx.COLUMNS)
    assert trail.events.schema == fx.EVENTS_SCHEMA
