"""Floor 1: Server-Sent Events, sans-IO: the incremental decoder (:mod:`.decoder`)."""
