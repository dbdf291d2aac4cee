//! SIP transactions, dialogs, registrar and B2BUA cores as sans-IO state machines. No sockets, no clock.
