"""`make bench`: kernel micro-benchmarks, then node CPU per packet in a browser call."""

from tests.bench import call, kernels

kernels.main()
call.main()
