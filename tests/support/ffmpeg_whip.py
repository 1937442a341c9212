"""FFmpeg's WHIP muxer (in PyAV's bundled FFmpeg) publishing a test pattern and a tone, in real
time, to a WHIP endpoint: a WHIP client nobody here wrote.

    python -m tests.support.ffmpeg_whip URL TOKEN CERT KEY SECONDS

Its own process: PyAV holds the GIL through the muxer's HTTP exchange, which would stall a
server in the same process. H.264 baseline without B-frames and stereo Opus, as the muxer wants;
CERT and KEY are a P-256 certificate for its DTLS (the P-224 one FFmpeg's GnuTLS build makes by
itself is refused by OpenSSL's DTLS 1.2). Closing the container sends the WHIP DELETE.
"""

from __future__ import annotations

import fractions
import sys
import time

import av
import numpy as np

FPS = 30
WIDTH, HEIGHT = 320, 240
RATE = 48000
SAMPLES = RATE // FPS  # one audio frame per video frame (Opus takes them in 20 ms pieces)


def main() -> None:
    url, token, cert, key, seconds = sys.argv[1:6]
    options = {"authorization": token, "cert_file": cert, "key_file": key}
    out = av.open(url, mode="w", format="whip", options=options)
    video = out.add_stream(
        "libx264", rate=FPS, options={"profile": "baseline", "tune": "zerolatency", "bf": "0"}
    )
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.codec_context.gop_size = FPS
    audio = out.add_stream("libopus", rate=RATE, layout="stereo")
    began = time.monotonic()
    for i in range(round(float(seconds) * FPS)):
        pattern = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        pattern[:, (i * 4) % WIDTH] = 255  # a moving line: every frame differs
        frame = av.VideoFrame.from_ndarray(pattern, format="rgb24")
        frame.pts, frame.time_base = i, fractions.Fraction(1, FPS)
        out.mux(video.encode(frame))
        t = (np.arange(SAMPLES) + i * SAMPLES) / RATE
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        sound.sample_rate, sound.pts = RATE, i * SAMPLES
        out.mux(audio.encode(sound))
        time.sleep(max(0.0, began + (i + 1) / FPS - time.monotonic()))
    out.close()


if __name__ == "__main__":
    main()
