"""The bottom layer every other one builds on, stdlib and msgspec only: the settings
(:mod:`.settings`), the small event API that runtime and debug code record through
(:mod:`.events`), the names of every span, event and attribute (:mod:`.schema`), the
extension-point protocol (:mod:`.hooks`) and how packages present their public names
(:mod:`.public`). Arrows point one way: core <- runtime <- debug <- telemetry <- cli."""

__version__ = "0.1.0"

from .public import lazy_getattr

__getattr__ = lazy_getattr(__name__, {})  # any submodule, imported on first use
