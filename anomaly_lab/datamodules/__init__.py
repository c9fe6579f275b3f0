"""LightningDataModules (thin layers over the pure-torch generators and readers)."""
