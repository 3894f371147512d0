"""The model core: the networks, the losses, the GAN and the heads fitted on a trained generator.

The GAN is a keras.Model handed its networks (model.gan); everything here is TensorFlow and nothing
here knows a store.
"""
