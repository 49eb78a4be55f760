"""The composition root: what wires the components into processes.

- ``cli``: the ``parallax`` command; each subcommand resolves settings once and hands
  them to its component, imported lazily (an edge node with only the ``collector``
  extra never imports duckdb or pyarrow);
- ``server``: the ``parallax server`` process: ingest, the Fleet service, the
  reconciler loop and maintenance over one ``store.WriterLake``;
- ``demo``: ``parallax demo``, a simulated fleet of real processes.

The only package that imports several components. Imports run down the layers:
``launch`` > ``collector``, ``store``, ``reconciler``, ``dashboard``, ``parallax_sdk`` >
``parallax`` (the kernel); the ``[tool.importlinter]`` contracts in pyproject.toml keep
it so (tests/test_architecture.py).
"""
