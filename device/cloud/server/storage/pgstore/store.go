package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// Store is the PostgreSQL storage.Store. Each method is one transaction (or
// one statement), retried whole when PostgreSQL aborts it for a deadlock or a
// serialization failure; that is why the interface's apply functions may run
// more than once.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	wake storage.Wakes // this node's waiters

	ctx    context.Context // ends at Close: the listener's
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ storage.Store = (*Store)(nil)

// Option sets up Open.
type Option func(*Store)

// WithLogger logs the listener's lost connections to l; by default nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open connects to the database at dsn (a postgres:// URL or key=value
// words, as libpq takes them; pool_max_conns sets the pool's size), brings
// its schema up to date, and listens for other nodes' wake-ups.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", classify(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", classify(err))
	}
	s := &Store{pool: pool, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	if _, err := migrate(ctx, pool, migrations); err != nil {
		pool.Close()
		return nil, err
	}
	// LISTEN before Open returns: a Wait taken after Open misses no Notify.
	conn, err := s.listenConn(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(func() { s.listen(conn) })
	return s, nil
}

// Close stops the listener and closes the pool; calls after it fail.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	s.pool.Close()
	return nil
}

// Pool is the store's connection pool, for tests and checks that read the
// tables themselves.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// retries bounds the runs of one transaction that PostgreSQL keeps aborting.
const retries = 10

// retryable says whether PostgreSQL aborted the transaction for something a
// second run may not meet: a deadlock, a serialization failure, or (for the
// methods that insert after looking) a concurrent insert of the same key.
func retryable(err error, uniqueToo bool) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation
		return uniqueToo
	}
	return false
}

// tx runs fn in a transaction, again from the start when it is retryable.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.txRetry(ctx, false, fn)
}

func (s *Store) txRetry(ctx context.Context, uniqueToo bool, fn func(pgx.Tx) error) error {
	for i := 1; ; i++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || i == retries || !retryable(err, uniqueToo) || ctx.Err() != nil {
			return err
		}
	}
}

// batchTx runs a transaction of two round trips, again from the start when
// it is retryable (see txRetry): BEGIN goes with the statements read queues,
// whose results scan reads; then the statements write queues (from what
// scan found) go with COMMIT. A failure rolls back; a connection left in a
// transaction is not returned to the pool.
func (s *Store) batchTx(ctx context.Context, read func(*pgx.Batch), scan func(pgx.BatchResults) error, write func(*pgx.Batch) error) error {
	for i := 1; ; i++ {
		err := s.batchTxOnce(ctx, read, scan, write)
		if err == nil || i == retries || !retryable(err, false) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) batchTxOnce(ctx context.Context, read func(*pgx.Batch), scan func(pgx.BatchResults) error, write func(*pgx.Batch) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		if err != nil && !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	read(b)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	if err := scan(br); err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	b = &pgx.Batch{}
	if err := write(b); err != nil {
		return err
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if st := conn.Conn().PgConn().TxStatus(); st != 'I' {
		return fmt.Errorf("pgstore: transaction not committed (status %c)", st)
	}
	return nil
}

// classify marks PostgreSQL's full disk (SQLSTATE 53100, disk_full) with
// storage.ErrNoSpace, keeping err in the chain; other errors it returns as
// they are.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" && !errors.Is(err, storage.ErrNoSpace) {
		return fmt.Errorf("%w: %w", storage.ErrNoSpace, err)
	}
	return err
}

// Ping makes a round trip to the database on one of the pool's connections.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// notFound turns pgx's no-row error into storage.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// timeOf reads a nullable timestamptz: the zero time for NULL, else in UTC.
func timeOf(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}

// jsonOf is v as JSON for a jsonb column, or NULL for a nil pointer.
func jsonOf[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// fromJSON reads a nullable jsonb column into a new T, or nil for NULL.
func fromJSON[T any](b []byte) (*T, error) {
	if b == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}
