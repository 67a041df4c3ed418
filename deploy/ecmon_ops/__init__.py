"""Operations: the local stack of plain processes, the benchmark and the fault suite (files for compose and
Kubernetes sit beside this package)."""
