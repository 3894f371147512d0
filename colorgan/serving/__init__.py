"""A trained model in use: the shipped folder, model references, colorizing photos, the pyfunc, the app.

Every command that takes a model resolves it here (serving.references); the web app (app, limits,
static/) and the registered pyfunc colorize through serving.colorize.
"""
