"""`make bench`: kernel micro-benchmarks, the datapath alone and the packet path, then node CPU
per packet in a browser call."""

from tests.bench import call, datapath, kernels

kernels.main()
datapath.main()
call.main()
