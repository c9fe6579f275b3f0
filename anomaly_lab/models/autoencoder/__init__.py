"""The autoencoder tutorial's image autoencoders (vanilla, deep, convolutional) and the shared
reconstruction-scoring LightningModule."""
