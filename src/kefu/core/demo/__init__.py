"""The demo shop 「悦家生活旗舰店」: data in ``shop`` and ``scenarios``, built by ``build``."""

from .build import DemoResult, demo_exists, install_demo, remove_demo

__all__ = ["DemoResult", "demo_exists", "install_demo", "remove_demo"]
