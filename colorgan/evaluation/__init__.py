"""A model or baseline scored per image on the test split or a folder (colorgan evaluate).

Publishing and shipping score through it too, so one path makes every test-split figure.
"""
