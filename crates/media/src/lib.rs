//! Codecs, DTMF detection, bridge and mixer, prompt playback and recording format. No sockets, no clock.
