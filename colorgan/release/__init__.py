"""A trained model made public: registered in MLflow (publish) or shipped into the repository (ship).
"""
