"""Floor 0: the policies every floor reads: timeouts (:mod:`.timeouts`) and the retry policy (:mod:`.retries`)."""
