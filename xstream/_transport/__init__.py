"""Floor 3: the one place a request is sent: :mod:`.transport` (retries, deadlines, the pool),
:mod:`.request`, :mod:`.errors` (every aiohttp and OS error mapped), :mod:`.pool`, :mod:`.proxy`,
:mod:`.redact`, :mod:`.raw`."""
