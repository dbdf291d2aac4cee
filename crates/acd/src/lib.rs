//! The ACD engine: queues, agents, strategies, estimated wait, Erlang staffing; sans-IO. No SIP, no clock.
