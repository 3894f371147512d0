"""The process's foundations: the typed config, its errors, where files live, the machine, liveness, free disk.

Nothing here builds a model, reads the data set or opens a store; every layer above may use it.
"""
