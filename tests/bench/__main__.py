"""`make bench`: the micro-benchmarks (long load tests come with the load-test tool)."""

from tests.bench.kernels import main

main()
