"""Running sweeps on Ray Tune: the plan, the driver and its store callback, the cluster, the
driver lock, how a sweep ended."""
