"""Floor 8: the command line (``xstream chat``, ``xstream serve``: :mod:`.main`) and the chat page
(:mod:`.page`)."""
