"""The report generator: figures, tables and an HTML/Markdown report, read from MLflow (and Optuna) alone.

It never imports the training code: everything it shows was logged by training runs, studies and
`colorgan evaluate`. What it lacks it names, with the command that produces it.
"""
