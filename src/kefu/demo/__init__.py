"""The demo shop 「悦家生活旗舰店」: data in ``shop``, ``kb`` and ``scenarios``, built by ``build``.

An operations app at the top of the house: it loads data through every app's
services (``kefu demo``), and nothing imports it.
"""
