// Package pgstore keeps the cloud's data in PostgreSQL, for a fleet: any
// number of kassa cloud processes may share one database, each taking leases,
// callbacks and alerts with row locks (SELECT … FOR UPDATE SKIP LOCKED), so
// no two nodes hand out the same document or post the same callback.
//
// The schema is in migrations/, applied at Open under an advisory lock, so
// nodes starting at once migrate once.
//
// It must never keep state of its own between calls beyond the connection
// pool: a node may die at any moment, and another takes over from the
// database alone.
package pgstore
