//! The IVR dialplan language: lexer, parser, checker and sans-IO interpreter. No telephony, no I/O.
