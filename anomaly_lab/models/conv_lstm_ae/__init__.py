"""Spatio-temporal (ConvLSTM) autoencoder for video anomaly detection."""
