"""Floor 2: what the payloads mean, sans-IO: chunks merged into a completion (:mod:`.accumulate`)
and turned into typed events (:mod:`.chat_events`, :mod:`.chat_state`: one path), partial JSON,
structured output (:mod:`.schema`, :mod:`.responses`), tools (:mod:`.tools`)."""
