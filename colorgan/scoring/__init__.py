"""What a result is judged by: the quality figures, the critic's skill, the baselines, the sample grids.

Each figure is declared once (metrics.QUALITY) and read by training, evaluation, the card and the
studies; no network is built here.
"""
