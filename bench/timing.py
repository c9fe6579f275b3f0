"""What the benchmarks share."""

#: why a GPU row has no figure on a machine without CUDA, and where it is measured instead
NO_GPU = "bench/device_check.sh measures it on a lent GPU machine"
