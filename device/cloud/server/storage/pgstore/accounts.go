package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

func (s *Store) Account(ctx context.Context, login string) (storage.Account, error) {
	a := storage.Account{Login: login}
	err := s.pool.QueryRow(ctx, "SELECT password_hash, points FROM accounts WHERE login = $1", login).Scan(&a.PasswordHash, &a.Points)
	if err != nil {
		return storage.Account{}, fmt.Errorf("account %q: %w", login, classify(notFound(err)))
	}
	return a, nil
}

func putAccount(ctx context.Context, tx pgx.Tx, a *storage.Account) error {
	_, err := tx.Exec(ctx, `INSERT INTO accounts (login, password_hash, points) VALUES ($1, $2, $3)
		ON CONFLICT (login) DO UPDATE SET password_hash = EXCLUDED.password_hash, points = EXCLUDED.points`,
		a.Login, a.PasswordHash, a.Points)
	return err
}

func (s *Store) PutAccount(ctx context.Context, a storage.Account) error {
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return putAccount(ctx, tx, &a) }); err != nil {
		return fmt.Errorf("pgstore: account %q: %w", a.Login, classify(err))
	}
	return nil
}

func (s *Store) SetPasswordHash(ctx context.Context, login string, old, new []byte) error {
	var cur []byte
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT password_hash FROM accounts WHERE login = $1 FOR UPDATE", login).Scan(&cur); err != nil {
			return notFound(err)
		}
		if !bytes.Equal(cur, old) {
			return storage.ErrConflict
		}
		_, err := tx.Exec(ctx, "UPDATE accounts SET password_hash = $2 WHERE login = $1", login, new)
		return err
	})
	if err != nil {
		return fmt.Errorf("password of account %q: %w", login, classify(err))
	}
	return nil
}

func (s *Store) Point(ctx context.Context, id string) (storage.Point, error) {
	var p storage.Point
	var point []byte
	err := s.pool.QueryRow(ctx, "SELECT point, account, settings, notify_email, webhook_url FROM points WHERE id = $1", id).
		Scan(&point, &p.Account, &p.Settings, &p.NotifyEmail, &p.WebhookURL)
	if err != nil {
		return storage.Point{}, fmt.Errorf("point %s: %w", id, classify(notFound(err)))
	}
	if err := json.Unmarshal(point, &p.Point); err != nil {
		return storage.Point{}, fmt.Errorf("point %s: %w", id, classify(err))
	}
	return p, nil
}

func putPoint(ctx context.Context, tx pgx.Tx, p *storage.Point) error {
	point, err := json.Marshal(p.Point)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO points (id, account, point, settings, notify_email, webhook_url)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET account = EXCLUDED.account, point = EXCLUDED.point,
			settings = EXCLUDED.settings, notify_email = EXCLUDED.notify_email, webhook_url = EXCLUDED.webhook_url`,
		p.Point.ID, p.Account, point, p.Settings, p.NotifyEmail, p.WebhookURL)
	return err
}

func (s *Store) PutPoint(ctx context.Context, p storage.Point) error {
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return putPoint(ctx, tx, &p) }); err != nil {
		return fmt.Errorf("pgstore: point %s: %w", p.Point.ID, classify(err))
	}
	return nil
}

func (s *Store) PointIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM points ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("pgstore: points: %w", classify(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgstore: points: %w", classify(err))
	}
	return ids, nil
}

func (s *Store) ShopLogin(ctx context.Context, user string) (storage.ShopLogin, error) {
	l := storage.ShopLogin{User: user}
	err := s.pool.QueryRow(ctx, "SELECT point_id, client_id, salt, hash FROM shop_logins WHERE user_name = $1", user).
		Scan(&l.PointID, &l.ClientID, &l.Salt, &l.Hash)
	if err != nil {
		return storage.ShopLogin{}, fmt.Errorf("integration login %q: %w", user, classify(notFound(err)))
	}
	return l, nil
}

// issueShopLogin is IssueShopLogin inside tx.
func issueShopLogin(ctx context.Context, tx pgx.Tx, l *storage.ShopLogin, fresh bool) (string, error) {
	var user string
	err := tx.QueryRow(ctx, "SELECT user_name FROM shop_logins WHERE point_id = $1 AND client_id = $2 FOR UPDATE",
		l.PointID, l.ClientID).Scan(&user)
	switch {
	case err == nil && !fresh:
		_, err = tx.Exec(ctx, "UPDATE shop_logins SET salt = $2, hash = $3 WHERE user_name = $1", user, l.Salt, l.Hash)
		return user, err
	case err == nil:
		if _, err := tx.Exec(ctx, "DELETE FROM shop_logins WHERE user_name = $1", user); err != nil {
			return "", err
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO shop_logins (user_name, point_id, client_id, salt, hash) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_name) DO UPDATE SET point_id = EXCLUDED.point_id, client_id = EXCLUDED.client_id,
			salt = EXCLUDED.salt, hash = EXCLUDED.hash`,
		l.User, l.PointID, l.ClientID, l.Salt, l.Hash)
	return l.User, err
}

func (s *Store) IssueShopLogin(ctx context.Context, l storage.ShopLogin, fresh bool) (string, error) {
	var user string
	// Two first issues of a pair at once: the second's insert meets the
	// first's pair and runs again, finding it.
	err := s.txRetry(ctx, true, func(tx pgx.Tx) error {
		var err error
		user, err = issueShopLogin(ctx, tx, &l, fresh)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("pgstore: integration login of point %s: %w", l.PointID, classify(err))
	}
	return user, nil
}

func (s *Store) RevokeShopLogin(ctx context.Context, user string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM shop_logins WHERE user_name = $1", user); err != nil {
		return fmt.Errorf("pgstore: revoke %q: %w", user, classify(err))
	}
	return nil
}

func (s *Store) PutSession(ctx context.Context, key string, ses storage.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (key, login, csrf, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET login = EXCLUDED.login, csrf = EXCLUDED.csrf, expires = EXCLUDED.expires`,
		key, ses.Login, ses.CSRF, ses.Expires)
	if err != nil {
		return fmt.Errorf("pgstore: session: %w", classify(err))
	}
	return nil
}

// Session: a session is over once now reaches Expires.
func (s *Store) Session(ctx context.Context, key string, now time.Time) (storage.Session, error) {
	var ses storage.Session
	err := s.pool.QueryRow(ctx, "SELECT login, csrf, expires FROM sessions WHERE key = $1 AND expires > $2", key, now).
		Scan(&ses.Login, &ses.CSRF, &ses.Expires)
	if err != nil {
		return storage.Session{}, fmt.Errorf("session: %w", classify(notFound(err)))
	}
	ses.Expires = ses.Expires.UTC()
	return ses, nil
}

func (s *Store) DeleteSession(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE key = $1", key); err != nil {
		return fmt.Errorf("pgstore: session: %w", classify(err))
	}
	return nil
}

func (s *Store) DropSessions(ctx context.Context, now time.Time) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE expires <= $1", now); err != nil {
		return fmt.Errorf("pgstore: expired sessions: %w", classify(err))
	}
	return nil
}

const sandboxKey = "sandbox"

func (s *Store) Sandbox(ctx context.Context) (storage.Sandbox, error) {
	var b []byte
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = $1", sandboxKey).Scan(&b); err != nil {
		return storage.Sandbox{}, fmt.Errorf("sandbox: %w", classify(notFound(err)))
	}
	var sb storage.Sandbox
	if err := json.Unmarshal(b, &sb); err != nil {
		return storage.Sandbox{}, fmt.Errorf("sandbox: %w", classify(err))
	}
	return sb, nil
}

func (s *Store) CreateSandbox(ctx context.Context, seed storage.SandboxSeed) error {
	b, err := json.Marshal(seed.Sandbox)
	if err != nil {
		return err
	}
	// Two nodes making the sandbox at once: the second's insert of the
	// meta row waits for the first's commit and then inserts nothing.
	err = s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", sandboxKey, b)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict
		}
		if err := putAccount(ctx, tx, &seed.Account); err != nil {
			return err
		}
		for i := range seed.Points {
			if err := putPoint(ctx, tx, &seed.Points[i]); err != nil {
				return err
			}
		}
		for i := range seed.Logins {
			if _, err := issueShopLogin(ctx, tx, &seed.Logins[i], true); err != nil {
				return err
			}
		}
		return bindRegister(ctx, tx, &seed.Register)
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", classify(err))
	}
	return nil
}

func (s *Store) CreateAccount(ctx context.Context, a storage.Account) error {
	if a.Login == "" {
		return errors.New("pgstore: an account without a login")
	}
	// A second create of the login waits for the first's commit and then inserts nothing.
	tag, err := s.pool.Exec(ctx, `INSERT INTO accounts (login, password_hash, points) VALUES ($1, $2, $3)
		ON CONFLICT (login) DO NOTHING`, a.Login, a.PasswordHash, a.Points)
	switch {
	case err != nil:
		return fmt.Errorf("pgstore: new account %q: %w", a.Login, classify(err))
	case tag.RowsAffected() == 0:
		return fmt.Errorf("new account %q: %w", a.Login, storage.ErrConflict)
	}
	return nil
}

// CreatePoint first appends the id to the account's points, which locks the
// account's row: concurrent creates for one account append in turn, each to
// the list as the one before committed it. The point's insert then meets a
// point made meanwhile (waiting for its commit) and the whole is undone.
func (s *Store) CreatePoint(ctx context.Context, p storage.Point) error {
	if p.Point.ID == "" {
		return errors.New("pgstore: a point without an id")
	}
	point, err := json.Marshal(p.Point)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET points = CASE WHEN $2 = ANY(points) THEN points ELSE array_append(points, $2) END
			WHERE login = $1`, p.Account, p.Point.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("account %q: %w", p.Account, storage.ErrNotFound)
		}
		tag, err = tx.Exec(ctx, `INSERT INTO points (id, account, point, settings, notify_email, webhook_url)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			p.Point.ID, p.Account, point, p.Settings, p.NotifyEmail, p.WebhookURL)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: new point %s: %w", p.Point.ID, classify(err))
	}
	return nil
}
