"""On call: who carries the pager now (`rotation`: shifts from the config, overrides from the database)."""
