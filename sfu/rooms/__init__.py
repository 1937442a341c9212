"""Who is in a room, what they publish and what they receive. No RTP here."""
