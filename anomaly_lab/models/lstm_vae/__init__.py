"""The seed's LSTM-VAE: a plain module, anomaly generation from its latent space, and its detector."""
