"""``parallax demo``: a live simulated fleet with real models and real divergence.

Modules, in the order data flows:

- ``transactions``, ``fraud``, ``recs``: synthetic data and the NumPy models (a
  gradient-boosted fraud scorer in three releases, a matrix-factorisation recommender),
  each runnable in fp32, fp16 and int8, quantized honestly;
- ``plan``: the fleet's layout and the script (rollout, outage, cold start);
- ``stream``: the shared, deterministic input streams and which node scores what;
- ``app``: one node's app process (spans through ``parallax_sdk`` to its collector);
- ``link``: a node's uplink that the demo cuts and restores;
- ``workspace``, ``processes``, ``orchestrator``, ``report``: files, child processes,
  the run itself and what it prints.

Imported lazily by ``launch.cli`` (``launch.demo.orchestrator.run_demo``): the models
need NumPy, which the kernel does not; this package module imports nothing.
"""
