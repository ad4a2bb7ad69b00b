"""Floor 7: the blocking client. Hand-written: its lifecycle (:mod:`.client`, :mod:`.portal`), the
pipeline on the loop thread (:mod:`.api`), the chunk-level streams that hop once per read
(:mod:`.streams`), how a tool starts (:mod:`.tools`). Generated from the async source by
``scripts/unasync.py`` (checked by ``tests/sync/test_sync_twin.py``): :mod:`.chat`,
:mod:`.responses`, :mod:`.sse`, :mod:`.chat_events`, :mod:`.response_events`,
:mod:`.managers`, :mod:`.tool_runner`."""
