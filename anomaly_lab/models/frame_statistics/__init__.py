from anomaly_lab.models.frame_statistics.torch_model import InkHistogramConsistency

__all__ = ["InkHistogramConsistency"]
