"""GPU telemetry (NVIDIA DCGM exporter metrics) rolled up per GPU per day, and joined to the loans' collateral."""
