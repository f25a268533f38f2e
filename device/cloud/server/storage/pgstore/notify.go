package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// wakeChannel is the one NOTIFY channel of every node; the payload is the
// point's id. One channel rather than one per point: a node LISTENs once,
// whatever points its registers poll. PostgreSQL only (and YugabyteDB's
// recent versions); CockroachDB has no LISTEN/NOTIFY, and a store there
// would wake its waiters by polling.
const wakeChannel = "kassa_wake"

// Wait returns a channel closed at the point's next Notify by any node.
func (s *Store) Wait(pointID string) <-chan struct{} { return s.wake.Wait(pointID) }

// Notify wakes the point's waiters on every node: this one's at once, the
// others' through NOTIFY.
func (s *Store) Notify(ctx context.Context, pointID string) error {
	s.wake.Notify(ctx, pointID)
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", wakeChannel, pointID); err != nil {
		return fmt.Errorf("pgstore: notify point %s: %w", pointID, classify(err))
	}
	return nil
}

// listenConn opens the node's listening connection: its own, outside the
// pool, since it stays in WaitForNotification.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("pgstore: listening connection: %w", classify(err))
	}
	if _, err := conn.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pgstore: LISTEN: %w", classify(err))
	}
	return conn, nil
}

// listen wakes this node's waiters for every NOTIFY, until Close. A lost
// connection is made again, with pauses growing to 5 s; once it is back,
// every waiter wakes, since what was posted meanwhile was not heard.
func (s *Store) listen(conn *pgx.Conn) {
	pause := 100 * time.Millisecond
	for {
		if conn != nil {
			for {
				n, err := conn.WaitForNotification(s.ctx)
				if err != nil {
					if s.ctx.Err() == nil {
						s.log.Warn("pgstore: the listening connection was lost; other nodes' wake-ups go unheard until it is back", "err", err)
					}
					break
				}
				pause = 100 * time.Millisecond
				s.wake.Notify(s.ctx, n.Payload)
			}
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
		var err error
		if conn, err = s.listenConn(s.ctx); err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("pgstore: listening connection", "err", err)
			}
			conn = nil
			continue
		}
		s.wake.WakeAll()
	}
}
