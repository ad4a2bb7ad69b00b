"""Floor 1: what goes over the wire, typed: chat payloads (:mod:`.chat`), Responses payloads
and events (:mod:`.responses`), and every call's parameters, declared once (:mod:`.params`)."""
