"""Command-line interface: parse, call `app`, format. No logic lives here.

Process settings for the CLI live here because this package is imported before anything heavy.
"""

import gc
import os

# A CLI run builds many small long-lived objects (parsed YAML) and little cyclic garbage: with the default
# threshold the collector rescans them every 700 allocations (about a tenth of a short run's time).
gc.set_threshold(100_000, 50, 100)
# greenfield uses no pydantic plugins; looking for them scans every installed distribution's entry points
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
