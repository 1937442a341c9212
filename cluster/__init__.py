"""What the control plane and the media nodes share, so that neither imports the other: the
cluster's models, node commands, node selection, the stores (memory and Redis), join tokens,
webhook events and their signatures, and the settings both read."""
