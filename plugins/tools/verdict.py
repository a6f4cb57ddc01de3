"""Speed-test figures in words a clinician understands."""

from __future__ import annotations

# Video at 720p needs about 1.5 Mbps each way; a conversation stays natural under ~150 ms.
GOOD = "Good for video sessions"
FAIR = "Fair: video may stutter"
POOR = "Too slow for video: use audio or another network"


def verdict(latency_ms: float, download_mbps: float, upload_mbps: float) -> str:
    if latency_ms <= 150 and download_mbps >= 3 and upload_mbps >= 1.5:
        return GOOD
    if latency_ms <= 400 and download_mbps >= 1 and upload_mbps >= 0.6:
        return FAIR
    return POOR
