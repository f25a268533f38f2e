package server

import (
	"encoding/base64"
	"fmt"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Sandbox is what var/sandbox.json needs to start posting to the sandbox cloud.
type Sandbox struct {
	Login           string         `json:"login"` // integration pair of the first point
	Password        string         `json:"password"`
	RetailPointID   string         `json:"retailPointId"` // the first point, served by the register
	CabinetLogin    string         `json:"cabinetLogin"`
	CabinetPassword string         `json:"cabinetPassword"`
	RetailPoints    []SandboxPoint `json:"retailPoints"`
	RegisterToken   string         `json:"registerToken"` // bearer token of the first point's register
}

// SandboxPoint is one retail point of the sandbox cabinet with its integration pair.
type SandboxPoint struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Login    string `json:"login"`
	Password string `json:"password"`
}

// sandboxClientID is the clientId of the sandbox's own pairs, so that an integrator
// calling associate (without clientId) gets a fresh pair and sandbox.json keeps working.
const sandboxClientID = "sandbox"

// sandboxNotify is where the sandbox points' alerts go: the sandbox's SMTP sink keeps them.
const sandboxNotify = "owner@shop.example"

// sandboxPoints are the sandbox cabinet's shops; 7707083893 is a valid INN (check digits
// hold). Names stay within CP866, which has no «guillemets».
var sandboxPoints = []cloud.Point{
	{Name: `ООО "Песочница"`, INN: "7707083893", TaxSystems: fiscal.TaxGeneral | fiscal.TaxSimpleIncome,
		Address: "г. Москва, ул. Тверская, д. 1", Place: "https://shop.example", Email: "receipts@shop.example"},
	{Name: `ООО "Песочница", второй магазин`, INN: "7707083893", TaxSystems: fiscal.TaxSimpleIncome,
		Address: "г. Москва, ул. Арбат, д. 2", Place: "https://second.shop.example", Email: "receipts@second.shop.example"},
}

// Sandbox creates, once, a cabinet account owning two retail points with their
// integration pairs and a register bound to the first point, and returns them;
// later calls (and later runs on the same file) return the same. The sandbox keeps
// its own secrets in clear in the file, since it exists to hand them out.
func (s *Server) Sandbox() (Sandbox, error) {
	var sb Sandbox
	err := s.db.Update(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketMeta), keySandbox, &sb)
		if err != nil || found {
			return err
		}
		sb, err = s.newSandbox(tx)
		if err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketMeta), keySandbox, sb)
	})
	if err != nil {
		return Sandbox{}, fmt.Errorf("cloud: sandbox: %w", err)
	}
	return sb, nil
}

func (s *Server) newSandbox(tx *bolt.Tx) (Sandbox, error) {
	var sb Sandbox
	login, err := s.random(6)
	if err != nil {
		return sb, err
	}
	sb.CabinetLogin = "cabinet-" + base64.RawURLEncoding.EncodeToString(login)
	if sb.CabinetPassword, err = s.secret(); err != nil {
		return sb, err
	}
	// The hash has the configured cost although the password is random and kept
	// in clear for sandbox.json: a cheaper hash than the dummy one compared for
	// unknown logins would tell by its timing that this login exists.
	hash, err := bcrypt.GenerateFromPassword([]byte(sb.CabinetPassword), s.cfg.PasswordCost)
	if err != nil {
		return sb, fmt.Errorf("cabinet password: %w", err)
	}
	acc := account{PasswordHash: hash}
	for _, p := range sandboxPoints {
		if p.ID, err = s.uuid(); err != nil {
			return sb, err
		}
		acc.Points = append(acc.Points, p.ID)
		defaultSettings(&p)
		pr := pointRecord{Point: p, Account: sb.CabinetLogin, Settings: true, NotifyEmail: sandboxNotify}
		if err := putJSON(tx.Bucket(bucketPoints), []byte(p.ID), pr); err != nil {
			return sb, err
		}
		pass, err := s.secret()
		if err != nil {
			return sb, err
		}
		salt, err := s.random(16)
		if err != nil {
			return sb, err
		}
		user, err := s.issue(tx, p.ID, sandboxClientID, pass, salt)
		if err != nil {
			return sb, err
		}
		sb.RetailPoints = append(sb.RetailPoints, SandboxPoint{ID: p.ID, Name: p.Name, Login: user, Password: pass})
	}
	if err := putJSON(tx.Bucket(bucketAccounts), []byte(sb.CabinetLogin), acc); err != nil {
		return sb, err
	}
	first := sb.RetailPoints[0]
	sb.Login, sb.Password, sb.RetailPointID = first.Login, first.Password, first.ID
	if sb.RegisterToken, err = s.bind(tx, first.ID); err != nil {
		return sb, err
	}
	s.log.Info("cloud: sandbox created", "cabinet", sb.CabinetLogin, "point", first.ID)
	return sb, nil
}

// bind makes a register for the point (a point has one) and returns its token.
func (s *Server) bind(tx *bolt.Tx, pointID string) (string, error) {
	b, err := s.random(32)
	if err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	key := tokenKey(token)
	reg := registerRecord{PointID: pointID, BoundAt: s.now()}
	if err := putJSON(tx.Bucket(bucketRegisters), key, reg); err != nil {
		return "", err
	}
	return token, tx.Bucket(bucketPointReg).Put([]byte(pointID), key)
}
