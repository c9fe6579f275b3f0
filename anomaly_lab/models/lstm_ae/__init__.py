"""The seed's LSTM autoencoder: a plain module and its reconstruction-error detector."""
