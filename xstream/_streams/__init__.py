"""Floor 4: the one read loop (:mod:`.engine`, its states in :mod:`.state`) and the stream kinds on
it: chat chunks (:mod:`.chat`), any event stream (:mod:`.events`), Responses events
(:mod:`.responses`); typed events over them (:mod:`.chat_events`, :mod:`.response_events`);
the relay (:mod:`.relay`)."""
