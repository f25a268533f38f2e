// Package pgstore is the cloud's storage.Store in PostgreSQL, for a fleet:
// any number of kassa cloud processes (nodes) share one database. Each
// method is one transaction or one statement; nodes never hand out one
// document, callback or alert destination twice, because they take them with
// row locks (SELECT … FOR UPDATE SKIP LOCKED, or an upsert with a condition),
// and a node's long-polls wake at other nodes' posts through LISTEN/NOTIFY.
//
// The schema is in migrations/, applied at Open under an advisory lock, so
// nodes starting at once migrate once.
//
// It must never keep state of its own between calls beyond the connection
// pool and the waiters of its long-polls: a node may die at any moment, and
// another goes on from the database alone (holds on callback jobs and alert
// destinations are rows with an end, not memory).
//
// A node's own long-polls wait on a storage.Wakes; the others' wake-ups come
// through LISTEN, and when its listening connection was lost (the
// notifications sent meanwhile are gone) it wakes every point's waiters.
//
// A full disk is SQLSTATE 53100 on the database's machine: the methods
// return it wrapped with storage.ErrNoSpace (classify). Ping is a round trip
// on the pool.
//
// PostgreSQL's own features, noted where used: advisory locks (migrate),
// LISTEN/NOTIFY (notify.go), SKIP LOCKED (leases, callbacks). The SQL
// otherwise keeps to what CockroachDB and YugabyteDB take.
package pgstore
