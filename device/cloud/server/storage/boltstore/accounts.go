package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

func (s *Store) Account(ctx context.Context, login string) (storage.Account, error) {
	var a storage.Account
	err := s.view(ctx, func(tx *bolt.Tx) error { return mustJSON(tx.Bucket(bucketAccounts), []byte(login), &a) })
	if err != nil {
		return storage.Account{}, fmt.Errorf("account: %w", err)
	}
	a.Login = login
	return a, nil
}

func (s *Store) PutAccount(ctx context.Context, a storage.Account) error {
	if err := s.update(ctx, func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketAccounts), []byte(a.Login), a) }); err != nil {
		return fmt.Errorf("cloud: account %s: %w", a.Login, err)
	}
	return nil
}

func (s *Store) SetPasswordHash(ctx context.Context, login string, old, new []byte) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var cur storage.Account
		if err := mustJSON(tx.Bucket(bucketAccounts), []byte(login), &cur); err != nil {
			return err
		}
		if !bytes.Equal(cur.PasswordHash, old) {
			return storage.ErrConflict
		}
		cur.PasswordHash = new
		return putJSON(tx.Bucket(bucketAccounts), []byte(login), cur)
	})
	if err != nil {
		return fmt.Errorf("password of account %s: %w", login, err)
	}
	return nil
}

func (s *Store) Point(ctx context.Context, id string) (storage.Point, error) {
	var p storage.Point
	err := s.view(ctx, func(tx *bolt.Tx) error { return mustJSON(tx.Bucket(bucketPoints), []byte(id), &p) })
	if err != nil {
		return storage.Point{}, fmt.Errorf("retail point %s: %w", id, err)
	}
	return p, nil
}

func (s *Store) PutPoint(ctx context.Context, p storage.Point) error {
	if p.Point.ID == "" {
		return errors.New("cloud: a retail point without an id")
	}
	if err := s.update(ctx, func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketPoints), []byte(p.Point.ID), p) }); err != nil {
		return fmt.Errorf("cloud: retail point %s: %w", p.Point.ID, err)
	}
	return nil
}

func (s *Store) PointIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPoints).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cloud: listing points: %w", err)
	}
	return ids, nil
}

func (s *Store) ShopLogin(ctx context.Context, user string) (storage.ShopLogin, error) {
	var l storage.ShopLogin
	err := s.view(ctx, func(tx *bolt.Tx) error { return mustJSON(tx.Bucket(bucketCreds), []byte(user), &l) })
	if err != nil {
		return storage.ShopLogin{}, fmt.Errorf("integration login: %w", err)
	}
	l.User = user
	return l, nil
}

func (s *Store) IssueShopLogin(ctx context.Context, l storage.ShopLogin, fresh bool) (string, error) {
	var user string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		user, err = issue(tx, l, fresh)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cloud: integration login of point %s: %w", l.PointID, err)
	}
	return user, nil
}

// issue stores the pair's new password under its user name, which is the
// pair's existing one unless fresh or new.
func issue(tx *bolt.Tx, l storage.ShopLogin, fresh bool) (string, error) {
	idx := tx.Bucket(bucketCredIndex)
	ik := []byte(l.PointID + "\x00" + l.ClientID)
	user := string(idx.Get(ik))
	if user == "" || fresh {
		if user != "" {
			if err := tx.Bucket(bucketCreds).Delete([]byte(user)); err != nil {
				return "", err
			}
		}
		if l.User == "" {
			return "", errors.New("a new integration login without a user name")
		}
		user = l.User
		if err := idx.Put(ik, []byte(user)); err != nil {
			return "", err
		}
	}
	return user, putJSON(tx.Bucket(bucketCreds), []byte(user), l)
}

func (s *Store) RevokeShopLogin(ctx context.Context, user string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var l storage.ShopLogin
		found, err := getJSON(tx.Bucket(bucketCreds), []byte(user), &l)
		if err != nil || !found {
			return err
		}
		ik := []byte(l.PointID + "\x00" + l.ClientID)
		if string(tx.Bucket(bucketCredIndex).Get(ik)) == user {
			if err := tx.Bucket(bucketCredIndex).Delete(ik); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketCreds).Delete([]byte(user))
	})
	if err != nil {
		return fmt.Errorf("cloud: revoking an integration login: %w", err)
	}
	return nil
}

func (s *Store) PutSession(ctx context.Context, key string, sess storage.Session) error {
	if err := s.update(ctx, func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketSessions), []byte(key), sess) }); err != nil {
		return fmt.Errorf("cloud: session: %w", err)
	}
	return nil
}

func (s *Store) Session(ctx context.Context, key string, now time.Time) (storage.Session, error) {
	var sess storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error { return mustJSON(tx.Bucket(bucketSessions), []byte(key), &sess) })
	if err == nil && !now.Before(sess.Expires) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Session{}, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

func (s *Store) DeleteSession(ctx context.Context, key string) error {
	if err := s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(key)) }); err != nil {
		return fmt.Errorf("cloud: session: %w", err)
	}
	return nil
}

func (s *Store) DropSessions(ctx context.Context, now time.Time) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var sess storage.Session
			if _, err := getJSON(b, k, &sess); err != nil || !now.Before(sess.Expires) {
				old = append(old, k)
			}
			return nil
		})
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cloud: dropping expired sessions: %w", err)
	}
	return nil
}

func (s *Store) Sandbox(ctx context.Context) (storage.Sandbox, error) {
	var sb storage.Sandbox
	err := s.view(ctx, func(tx *bolt.Tx) error { return mustJSON(tx.Bucket(bucketMeta), keySandbox, &sb) })
	if err != nil {
		return storage.Sandbox{}, fmt.Errorf("sandbox: %w", err)
	}
	return sb, nil
}

func (s *Store) CreateSandbox(ctx context.Context, seed storage.SandboxSeed) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keySandbox) != nil {
			return storage.ErrConflict
		}
		for _, p := range seed.Points {
			if err := putJSON(tx.Bucket(bucketPoints), []byte(p.Point.ID), p); err != nil {
				return err
			}
		}
		for _, l := range seed.Logins {
			if _, err := issue(tx, l, true); err != nil {
				return err
			}
		}
		if err := putJSON(tx.Bucket(bucketAccounts), []byte(seed.Account.Login), seed.Account); err != nil {
			return err
		}
		if err := bindRegister(tx, seed.Register); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketMeta), keySandbox, seed.Sandbox)
	})
	if err != nil {
		return fmt.Errorf("cloud: sandbox: %w", err)
	}
	return nil
}

func (s *Store) CreateAccount(ctx context.Context, a storage.Account) error {
	if a.Login == "" {
		return errors.New("cloud: an account without a login")
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		if b.Get([]byte(a.Login)) != nil {
			return storage.ErrConflict
		}
		return putJSON(b, []byte(a.Login), a)
	})
	if err != nil {
		return fmt.Errorf("cloud: new account %s: %w", a.Login, err)
	}
	return nil
}

func (s *Store) CreatePoint(ctx context.Context, p storage.Point) error {
	if p.Point.ID == "" {
		return errors.New("cloud: a retail point without an id")
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		accounts, points := tx.Bucket(bucketAccounts), tx.Bucket(bucketPoints)
		var a storage.Account
		if err := mustJSON(accounts, []byte(p.Account), &a); err != nil {
			return fmt.Errorf("account %s: %w", p.Account, err)
		}
		if points.Get([]byte(p.Point.ID)) != nil {
			return storage.ErrConflict
		}
		if err := putJSON(points, []byte(p.Point.ID), p); err != nil {
			return err
		}
		if !slices.Contains(a.Points, p.Point.ID) {
			a.Points = append(a.Points, p.Point.ID)
		}
		return putJSON(accounts, []byte(p.Account), a)
	})
	if err != nil {
		return fmt.Errorf("cloud: new retail point %s: %w", p.Point.ID, err)
	}
	return nil
}
