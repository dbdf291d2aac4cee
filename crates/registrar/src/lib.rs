//! SIP registrar and location service: digest authentication, bindings, login/logout events; sans-IO.
