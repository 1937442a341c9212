"""`make bench`: kernel micro-benchmarks, the datapath alone and the packet path, then node CPU
per packet in a browser call, and what an audio tap costs."""

from tests.bench import call, datapath, kernels, tap

kernels.main()
datapath.main()
call.main()
tap.main()
