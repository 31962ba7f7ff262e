"""An app module that fails on import: the server must keep running and say so."""

raise RuntimeError("this app is broken on purpose")
