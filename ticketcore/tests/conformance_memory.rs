//! MemoryStore, the reference backend, passes the conformance suite.

ticketcore::conformance_suite!(ticketcore::testkit::Memory);
