"""Floor 5: ``chat.completions``, ``responses``, ``sse``, ``run_tools``: thin methods that build a
:class:`~.calls.Call` and hand it to the one request pipeline (:mod:`.api`). The sources of
the generated blocking twin (``scripts/unasync.py``)."""
