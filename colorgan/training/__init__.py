"""One run and what it needs: its plan, epochs, checkpoints, warm start; runs trained once.

``train.run_training`` is the one way a model is trained; studies and the claims' runs call it.
"""
