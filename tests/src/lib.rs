//! Shared harness for end-to-end tests: starting the binary, finding free ports, running peers.
