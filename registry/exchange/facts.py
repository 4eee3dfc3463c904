"""The report's headline figures (geodata/facts.yaml): shown on the home and about pages with their source.

Read once per process: the file is committed source data that changes only with a release."""
import functools

import yaml

from ..core.paths import GEODATA

FACTS = GEODATA / "facts.yaml"


@functools.cache
def headline_facts():
    """{"as_of", "quote", "section", "figures": [{"label", "value"}], "areas_quote"}."""
    return yaml.safe_load(FACTS.read_text("utf-8"))
