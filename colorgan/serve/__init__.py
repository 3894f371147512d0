"""`colorgan serve`: the upload page and its JSON/PNG API (FastAPI), over colorgan.colorize."""
