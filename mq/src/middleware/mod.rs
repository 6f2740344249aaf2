//! Middleware: tower layers whose services are handlers.
