"""Media: video decoding (`video`), the face input of a job (`source`: photo or video, ping-pong
playback), the atomic H.264 writer (`encode`), still images (`images`) and sticker encoders (`stickers`)."""
