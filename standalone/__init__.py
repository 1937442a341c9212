"""The one-process mode of `make run`: the control API, the web client and one media node
composed in one process (it belongs to neither side: `python -m standalone`)."""
